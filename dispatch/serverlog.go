package dispatch

import (
	"context"
	"fmt"
	"log/slog"
)

// serverLogger routes the NATS server's log lines into a *slog.Logger.
type serverLogger struct{ l *slog.Logger }

func (s *serverLogger) log(level slog.Level, format string, v []any) {
	s.l.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats-server")
}

func (s *serverLogger) Noticef(format string, v ...any) { s.log(slog.LevelInfo, format, v) }
func (s *serverLogger) Warnf(format string, v ...any)   { s.log(slog.LevelWarn, format, v) }
func (s *serverLogger) Fatalf(format string, v ...any)  { s.log(slog.LevelError, format, v) }
func (s *serverLogger) Errorf(format string, v ...any)  { s.log(slog.LevelError, format, v) }
func (s *serverLogger) Debugf(format string, v ...any)  { s.log(slog.LevelDebug, format, v) }
func (s *serverLogger) Tracef(format string, v ...any)  { s.log(slog.LevelDebug-4, format, v) }
