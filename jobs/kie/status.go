package kie

// Terminal reports whether polling can stop: SUCCESS, or any status ending in _FAILED.
// CALLBACK_EXCEPTION is not terminal by itself: the video may still be ready (see
// VideoRecord.Ready), and otherwise KIE may yet finish it (kie-api.md §9.5).
func (s Status) Terminal() bool { return s == StatusSuccess || s.Failed() }

// UnmarshalJSON decodes successFlag as a string ("SUCCESS") or an int (1), the two forms
// KIE uses (§9.4). Unknown strings are kept as sent; null and "" mean PENDING.
func (s *Status) UnmarshalJSON(b []byte) error {
	*s = decodeStatus(b)
	return nil
}
