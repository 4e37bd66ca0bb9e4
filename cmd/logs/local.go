package logs

import (
	"context"
	"errors"

	"github.com/ws-dev/ws/local"
)

// logsLocal prints the job log of a workspace started by 'ws up --local';
// handled reports false when there is no local workspace of that name.
func logsLocal(ctx context.Context, opts *LogsOptions) (handled bool, err error) {
	if opts.Project != "" {
		return false, nil
	}
	if _, err := local.Find(opts.Factory.Getenv, opts.Name); errors.Is(err, local.ErrNotFound) {
		return false, nil
	}
	return true, local.Logs(ctx, opts.Factory.Getenv, opts.Name, opts.IO.Out, opts.Follow)
}
