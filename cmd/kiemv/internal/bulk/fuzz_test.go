package bulk

import (
	"bytes"
	"testing"
)

// FuzzRead: no input makes Read panic, every input it returns names a line, and every line
// without an error is a request that passes validation.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		`{"task_id":"m","audio_id":"a"}` + "\n" + `{"task_id":"m"}`,
		"task_id,audio_id\nm,a\n\"m,\n",
		"\ufefftask_id\nm\n\n",
		`{"task_id":null,"audio_id":[1]}`,
		"{\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ins, err := Read(bytes.NewReader(b), Defaults{})
		if err != nil {
			return
		}
		for _, in := range ins {
			if in.Line < 1 {
				t.Fatalf("input without a line number: %+v", in)
			}
			if in.Err == nil {
				if in.Song() {
					if err := (songReq(in, 0)).Validate(); err != nil {
						t.Fatalf("line %d passed but is invalid: %v", in.Line, err)
					}
				} else if err := in.Req.Validate(); err != nil {
					t.Fatalf("line %d passed but is invalid: %v", in.Line, err)
				}
			}
		}
	})
}
