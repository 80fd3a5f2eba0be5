package certs

import (
	"fmt"

	"github.com/rs/zerolog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewZapLogger returns a zap.Logger whose entries are written to log, so that
// certmagic's logs come out in the same format as the rest of syncgate.
func NewZapLogger(log zerolog.Logger) *zap.Logger {
	return zap.New(&zerologCore{log: log})
}

// zerologCore is a zapcore.Core that forwards entries to a zerolog.Logger.
// Fields added with With are kept as already-encoded key/values so that each
// entry only encodes its own fields.
type zerologCore struct {
	log    zerolog.Logger
	fields []zapcore.Field
}

func (c *zerologCore) Enabled(l zapcore.Level) bool {
	return zerologLevel(l) >= c.log.GetLevel()
}

func (c *zerologCore) With(fields []zapcore.Field) zapcore.Core {
	nf := make([]zapcore.Field, 0, len(c.fields)+len(fields))
	nf = append(nf, c.fields...)
	nf = append(nf, fields...)
	return &zerologCore{log: c.log, fields: nf}
}

func (c *zerologCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zerologCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	ev := c.log.WithLevel(zerologLevel(e.Level))
	if ev == nil {
		return nil
	}
	if e.LoggerName != "" {
		ev = ev.Str("logger", e.LoggerName) // "component" is set once, by the caller
	}
	for k, v := range enc.Fields {
		switch x := v.(type) {
		case error:
			ev = ev.AnErr(k, x)
		case fmt.Stringer:
			ev = ev.Stringer(k, x)
		default:
			ev = ev.Interface(k, x)
		}
	}
	ev.Msg(e.Message)
	return nil
}

func (c *zerologCore) Sync() error { return nil }

func zerologLevel(l zapcore.Level) zerolog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return zerolog.DebugLevel
	case l == zapcore.InfoLevel:
		return zerolog.InfoLevel
	case l == zapcore.WarnLevel:
		return zerolog.WarnLevel
	case l == zapcore.ErrorLevel:
		return zerolog.ErrorLevel
	default:
		// DPanic, Panic and Fatal: certmagic never uses them; mapping them
		// to error keeps a library log line from exiting the gateway.
		return zerolog.ErrorLevel
	}
}
