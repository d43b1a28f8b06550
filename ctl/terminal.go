package ctl

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// terminal asks the operator as patronictl's click prompts do. It reads
// its input one byte at a time, without a buffer, so what follows the
// answers (query -f -) is still there for the verb to read.
type terminal struct {
	in  io.Reader
	out io.Writer
}

func newTerminal(in io.Reader, out io.Writer) *terminal { return &terminal{in: in, out: out} }

// errNoAnswer is the end of input where a question needed an answer.
var errNoAnswer = errors.New("no answer on standard input; pass --force to skip the questions")

// answer reads one line; the end of input before any character is errNoAnswer.
func (t *terminal) answer() (string, error) {
	line, err := readLine(t.in)
	if err != nil && line == "" {
		fmt.Fprintln(t.out)
		return "", errNoAnswer
	}
	return strings.TrimSpace(line), nil
}

// prompt is click.prompt with a default: "TEXT [DEFAULT]: " (an empty
// default shows as "[]"); an empty answer is the default.
func (t *terminal) prompt(text, def string) (string, error) {
	fmt.Fprintf(t.out, "%s [%s]: ", text, def)
	line, err := t.answer()
	if err != nil || line == "" {
		return def, err
	}
	return line, nil
}

// ask is click.prompt without a default: "TEXT: ", asked again until the
// answer is not empty.
func (t *terminal) ask(text string) (string, error) {
	for {
		fmt.Fprintf(t.out, "%s: ", text)
		line, err := t.answer()
		if err != nil || line != "" {
			return line, err
		}
	}
}

// confirm is click.confirm: "TEXT [y/N]: "; y or yes is yes, n, no or an
// empty answer is no, anything else is asked again.
func (t *terminal) confirm(text string) (bool, error) {
	for {
		fmt.Fprintf(t.out, "%s [y/N]: ", text)
		line, err := t.answer()
		if err != nil {
			return false, err
		}
		switch strings.ToLower(line) {
		case "y", "yes":
			return true, nil
		case "", "n", "no":
			return false, nil
		}
		fmt.Fprintln(t.out, "Error: invalid input")
	}
}

// password is click.prompt with hide_input: "Password: " with the
// terminal's echo off.
func (t *terminal) password() (string, error) {
	fmt.Fprint(t.out, "Password: ")
	restore := noEcho(t.in)
	line, err := readLine(t.in)
	restore()
	fmt.Fprintln(t.out)
	if err != nil && line == "" {
		return "", errNoAnswer
	}
	return line, nil
}

// readLine reads up to a newline, one byte at a time.
func readLine(in io.Reader) (string, error) {
	var b []byte
	buf := make([]byte, 1)
	for {
		n, err := in.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return strings.TrimSuffix(string(b), "\r"), nil
			}
			b = append(b, buf[0])
		}
		if err != nil {
			return string(b), err
		}
	}
}
