package units

import (
	"errors"
	"fmt"
	"strings"
)

// AddEnv appends Environment= for one variable, quoted per systemd.exec(5)
// so any value survives (spaces, quotes, backslashes, '$', '%'): the whole
// assignment is wrapped in double quotes when the value needs it. key must
// match [A-Za-z_][A-Za-z0-9_]*; the value may be empty or have leading or
// trailing spaces, but holds no control character.
func (s *Section) AddEnv(key, value string) {
	enc, err := encodeEnv(key, value, false)
	s.add("Environment", enc, err)
}

// AddEnvSpecifier is AddEnv for a value that may hold the specifiers
// %i %I %n %N %p (and "%%" for '%'), e.g. EHECOATL_WORKER=%i.
func (s *Section) AddEnvSpecifier(key, value string) {
	enc, err := encodeEnv(key, value, true)
	s.add("Environment", enc, err)
}

func encodeEnv(key, value string, spec bool) (string, error) {
	if err := checkEnv(key, value); err != nil {
		return "", err
	}
	enc, err := encodePercent(quoteWord(key+"="+value), spec)
	if err != nil {
		return "", fmt.Errorf("variable %s: %w", key, err)
	}
	return enc, nil
}

// checkEnv holds what AddEnv requires and SplitEnv checks of its result.
func checkEnv(key, value string) error {
	if !validEnvKey(key) {
		return fmt.Errorf("variable name %q is invalid: it must match [A-Za-z_][A-Za-z0-9_]*", key)
	}
	if err := checkText(value); err != nil {
		return fmt.Errorf("variable %s: %w", key, err)
	}
	return nil
}

func validEnvKey(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, c := range []byte(k) {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// SplitEnv is the inverse of AddEnv: it decodes one Environment= value
// holding one assignment. Specifiers other than "%%" are errors.
func SplitEnv(encoded string) (key, value string, err error) {
	return Specifiers(nil).SplitEnv(encoded)
}

// SplitEnv is the inverse of AddEnv and AddEnvSpecifier. As in systemd, the
// value is unquoted first and its specifiers are resolved after.
func (sp Specifiers) SplitEnv(encoded string) (key, value string, err error) {
	key, value, err = sp.splitEnv(encoded)
	if err != nil {
		return "", "", fmt.Errorf("units: environment %q: %w", encoded, err)
	}
	return key, value, nil
}

func (sp Specifiers) splitEnv(encoded string) (string, string, error) {
	w, next, ok, err := extractWord(encoded, 0)
	if err != nil {
		return "", "", err
	}
	if !ok {
		return "", "", errors.New("no assignment (an empty Environment= resets the list)")
	}
	if _, _, more, _ := extractWord(encoded, next); more {
		return "", "", errors.New("more than one assignment")
	}
	if w, err = expandSpecifiers(w, sp); err != nil {
		return "", "", err
	}
	k, v, ok := strings.Cut(w, "=")
	if !ok {
		return "", "", errors.New("no '=' in the assignment")
	}
	return k, v, checkEnv(k, v)
}
