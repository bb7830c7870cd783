package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/urfave/cli/v2"
)

func simCommand() *cli.Command {
	return &cli.Command{
		Name:  "sim",
		Usage: "run the KIE simulator alone (for trying kiemv without a KIE account)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8090", Usage: "address to serve on"},
			&cli.DurationFlag{Name: "ready-after", Value: 20 * time.Second, Usage: "time from create to ready"},
			&cli.Int64Flag{Name: "file-size", Value: 1 << 20, Usage: "size of each generated video"},
			&cli.StringFlag{Name: "require-key", Usage: "API key the simulator insists on (default: any)"},
			&cli.Float64Flag{Name: "credits", Usage: "meter the account: start with this balance, charge 2 per new MP4, refuse creates with 402 when short (default: not metered, balance 10000.5)"},
			&cli.StringFlag{Name: "hmac-key", EnvVars: []string{envWebhookKey}, Usage: "sign the callbacks it sends, as KIE does with webhookHmacKey (default: unsigned)"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := readGlobals(c)
			if err != nil {
				return err
			}
			sim := kiesim.New(kiesim.Config{ReadyAfter: c.Duration("ready-after"), FileSize: c.Int64("file-size"), APIKey: c.String("require-key"),
				HMACKey: c.String("hmac-key")})
			defer sim.Close()
			if c.IsSet("credits") {
				sim.SetCredits(c.Float64("credits"))
			}
			ln, err := net.Listen("tcp", c.String("listen"))
			if err != nil {
				return fmt.Errorf("sim: listen on %s: %w; pick another --listen address", c.String("listen"), err)
			}
			fmt.Fprintf(c.App.Writer, "KIE simulator on http://%s (use --kie-base-url http://%s)\n", ln.Addr(), ln.Addr())
			cfg.Log.Info("audio ids starting fail-, createfail-, cbex-, never-, expire- or cut- pick that fate")
			return app.Serve(c.Context, &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}, ln, 5*time.Second)
		},
	}
}
