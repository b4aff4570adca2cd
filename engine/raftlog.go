package engine

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// raftLogger routes hashicorp/raft's hclog output into the node's slog
// logger, so one sink, one format and one set of fields hold every line.
// Its own level (Config.RaftLogLevel) keeps Raft's chatter out unless asked
// for; the engine logs leader changes and snapshots itself.
//
// Fields are set when a logger is derived and read-only after; level is
// atomic and shared.
type raftLogger struct {
	l     *slog.Logger
	name  string
	level *atomic.Int32 // hclog.Level, shared by every logger derived from one root
	args  []any
}

var _ hclog.Logger = (*raftLogger)(nil)

func newRaftLogger(l *slog.Logger, level string) *raftLogger {
	lv := &atomic.Int32{}
	lv.Store(int32(hclog.LevelFromString(level)))
	if hclog.Level(lv.Load()) == hclog.NoLevel {
		lv.Store(int32(hclog.Warn))
	}
	return &raftLogger{l: l, name: "raft", level: lv}
}

func slogLevel(l hclog.Level) slog.Level {
	switch {
	case l <= hclog.Debug:
		return slog.LevelDebug
	case l == hclog.Info:
		return slog.LevelInfo
	case l == hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (r *raftLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || level < hclog.Level(r.level.Load()) {
		return
	}
	all := make([]any, 0, 2+len(r.args)+len(args))
	all = append(all, "component", r.name)
	all = append(all, r.args...)
	all = append(all, args...)
	r.l.Log(context.Background(), slogLevel(level), msg, all...)
}

func (r *raftLogger) Trace(msg string, args ...any) { r.Log(hclog.Trace, msg, args...) }
func (r *raftLogger) Debug(msg string, args ...any) { r.Log(hclog.Debug, msg, args...) }
func (r *raftLogger) Info(msg string, args ...any)  { r.Log(hclog.Info, msg, args...) }
func (r *raftLogger) Warn(msg string, args ...any)  { r.Log(hclog.Warn, msg, args...) }
func (r *raftLogger) Error(msg string, args ...any) { r.Log(hclog.Error, msg, args...) }

func (r *raftLogger) enabled(l hclog.Level) bool { return l >= hclog.Level(r.level.Load()) }
func (r *raftLogger) IsTrace() bool              { return r.enabled(hclog.Trace) }
func (r *raftLogger) IsDebug() bool              { return r.enabled(hclog.Debug) }
func (r *raftLogger) IsInfo() bool               { return r.enabled(hclog.Info) }
func (r *raftLogger) IsWarn() bool               { return r.enabled(hclog.Warn) }
func (r *raftLogger) IsError() bool              { return r.enabled(hclog.Error) }

func (r *raftLogger) ImpliedArgs() []any { return r.args }

func (r *raftLogger) With(args ...any) hclog.Logger {
	c := *r
	c.args = append(append([]any(nil), r.args...), args...)
	return &c
}

func (r *raftLogger) Name() string { return r.name }

func (r *raftLogger) Named(name string) hclog.Logger {
	c := *r
	c.name = r.name + "." + name
	return &c
}

func (r *raftLogger) ResetNamed(name string) hclog.Logger {
	c := *r
	c.name = name
	return &c
}

func (r *raftLogger) SetLevel(l hclog.Level) { r.level.Store(int32(l)) }
func (r *raftLogger) GetLevel() hclog.Level  { return hclog.Level(r.level.Load()) }

func (r *raftLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(r.StandardWriter(opts), "", 0)
}

// StandardWriter logs each written line at Info (or at the level its
// "[LEVEL]" prefix names, when opts asks to infer it).
func (r *raftLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	infer := opts != nil && opts.InferLevels
	return writerFunc(func(p []byte) (int, error) {
		line := strings.TrimSpace(string(p))
		level := hclog.Info
		if infer {
			for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
				tag := "[" + strings.ToUpper(l.String()) + "]"
				if strings.HasPrefix(line, tag) {
					level, line = l, strings.TrimSpace(strings.TrimPrefix(line, tag))
					break
				}
			}
		}
		r.Log(level, line)
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
