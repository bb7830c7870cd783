package main

import "strings"

// isFlagError recognises the errors urfave/cli returns for missing or malformed flags and
// arguments, which are usage errors (exit 2).
func isFlagError(err error) bool {
	s := err.Error()
	for _, p := range []string{"Required flag", "flag provided but not defined", "invalid value", "flag needs an argument", "No help topic"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
