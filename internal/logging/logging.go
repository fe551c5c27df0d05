// Package logging builds the agent's zap logger and bridges it into the
// *slog.Logger that exporter-toolkit wants, so there is one logger.
package logging

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"
)

// Config is the logger's configuration.
type Config struct {
	// Level is debug, info, warn or error.
	Level string
	// Format is logfmt (zap's console lines: time, level, message, then
	// the fields as JSON) or json.
	Format string
}

// AddFlags registers --log.level and --log.format.
func AddFlags(app *kingpin.Application, c *Config) {
	app.Flag("log.level", "Only log messages with the given severity or above: debug, info, warn, error.").
		Default("info").EnumVar(&c.Level, "debug", "info", "warn", "error")
	app.Flag("log.format", "Output format of log messages: logfmt (console lines: time, level, message, fields) or json.").
		Default("logfmt").EnumVar(&c.Format, "logfmt", "json")
}

// New returns the zap logger and a slog logger writing through it.
func New(c Config) (*zap.Logger, *slog.Logger, error) {
	var lvl zapcore.Level
	if c.Level == "" {
		c.Level = "info"
	}
	if err := lvl.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, nil, fmt.Errorf("--log.level: %w", err)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.TimeKey = "ts"
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	ec.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	switch c.Format {
	case "", "logfmt":
		ec.EncodeLevel = zapcore.LowercaseLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	case "json":
		enc = zapcore.NewJSONEncoder(ec)
	default:
		return nil, nil, fmt.Errorf("--log.format: %q is not logfmt or json", c.Format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), lvl)
	zl := zap.New(core)
	sl := slog.New(zapslog.NewHandler(core))
	return zl, sl, nil
}
