package logs

import (
	"bytes"
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
	switch {
	case opts.JSON() && opts.Follow:
		lines := &lineWriter{opts: opts}
		if err := local.Logs(ctx, opts.Factory.Getenv, opts.Name, lines, true); err != nil {
			return true, err
		}
		st, err := local.Find(opts.Factory.Getenv, opts.Name)
		if err != nil {
			return true, err
		}
		return true, lines.end(st.Status)
	case opts.JSON():
		var buf bytes.Buffer
		if err := local.Logs(ctx, opts.Factory.Getenv, opts.Name, &buf, false); err != nil {
			return true, err
		}
		return true, opts.Write(opts.IO.Out, &Result{Name: opts.Name, Log: buf.String(), Bytes: buf.Len()})
	}
	return true, local.Logs(ctx, opts.Factory.Getenv, opts.Name, opts.IO.Out, opts.Follow)
}
