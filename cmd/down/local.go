package down

import (
	"context"
	"errors"
	"fmt"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/local"
)

// downLocal stops a workspace started by 'ws up --local'; handled reports
// false when there is no local workspace of that name.
func downLocal(ctx context.Context, opts *DownOptions) (handled bool, err error) {
	if opts.Project != "" {
		return false, nil
	}
	if _, err := local.Find(opts.Factory.Getenv, opts.Name); errors.Is(err, local.ErrNotFound) {
		return false, nil
	}
	res, err := local.Down(ctx, opts.Factory.Getenv, opts.Name)
	if err != nil {
		return true, &cmdutil.HintError{Err: err, Hint: "run 'ws down " + opts.Name + "' again, or end the listed processes and remove the listed containers, networks and volumes by hand"}
	}
	if opts.JSON() {
		return true, opts.Write(opts.IO.Out, res)
	}
	if !res.WasRunning {
		fmt.Fprintf(opts.IO.Out, "%s: was not running (local)\n", opts.Name)
		return true, nil
	}
	fmt.Fprintf(opts.IO.Out, "%s: stopped (local); no processes left\n", opts.Name)
	return true, nil
}
