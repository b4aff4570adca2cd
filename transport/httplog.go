package transport

import (
	"fmt"
	"log/slog"
	"regexp"
)

// fasthttp logs what it cannot serve (a request it cannot parse, a
// connection over a limit) through its own Logger, by default to stderr as
// plain text. httpLogger sends those lines into the server's slog logger,
// so they take --log-format like every other line, and strips credentials
// first: with its default settings fasthttp quotes the raw header block of
// a bad request, Authorization: Bearer included. The server also sets
// SecureErrorLogMessage, which leaves the header block out; the redaction
// here is the second line of defence, for any message that still quotes a
// request.
type httpLogger struct {
	log *slog.Logger
}

func (l httpLogger) Printf(format string, args ...any) {
	l.log.Warn("http: " + redactCredentials(fmt.Sprintf(format, args...)))
}

var (
	// authHeaderValue is an Authorization header's value, up to the end of
	// the line (raw or %q-quoted: \r\n may be the two characters).
	authHeaderValue = regexp.MustCompile(`(?i)(authorization\s*:\s*)[^\r\n"\\]*`)
	// jwtLike is anything shaped like a JWT: every Access and Customer Key.
	jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*`)
)

// redactCredentials replaces credentials in a log line with [redacted].
func redactCredentials(s string) string {
	s = authHeaderValue.ReplaceAllString(s, "${1}[redacted]")
	return jwtLike.ReplaceAllString(s, "[redacted]")
}
