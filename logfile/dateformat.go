package logfile

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// DateFormat is Patroni's log.dateformat: a strftime format (Python's
// time.strftime, as logging's datefmt), parsed once. Python then writes
// the date without milliseconds, and so does Format.
type DateFormat struct{ parts []datePart }

type datePart struct {
	literal   string
	directive byte // 0 for a literal
}

// dateDirectives are the strftime directives Python documents (plus the
// C library's %e), each rendered in the C locale.
const dateDirectives = "aAwdbBmyYHIpMSfzZjUWcxXGuVe"

// ParseDateFormat parses a strftime format. The error names the first
// directive it cannot render.
func ParseDateFormat(s string) (*DateFormat, error) {
	if s == "" {
		return nil, fmt.Errorf("empty date format")
	}
	f := &DateFormat{}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("%q ends with a lone %% (write %%%% for a percent sign)", s)
		}
		i++
		c := s[i]
		if c == '%' {
			lit.WriteByte('%')
			continue
		}
		if !strings.ContainsRune(dateDirectives, rune(c)) {
			return nil, fmt.Errorf("unknown directive %%%c in %q (strftime directives, such as %%Y-%%m-%%d %%H:%%M:%%S)", c, s)
		}
		if lit.Len() > 0 {
			f.parts = append(f.parts, datePart{literal: lit.String()})
			lit.Reset()
		}
		f.parts = append(f.parts, datePart{directive: c})
	}
	if lit.Len() > 0 {
		f.parts = append(f.parts, datePart{literal: lit.String()})
	}
	return f, nil
}

// Format renders t.
func (f *DateFormat) Format(t time.Time) string {
	var b strings.Builder
	for _, p := range f.parts {
		if p.directive == 0 {
			b.WriteString(p.literal)
			continue
		}
		b.WriteString(strftime(p.directive, t))
	}
	return b.String()
}

func strftime(c byte, t time.Time) string {
	two := func(n int) string { return fmt.Sprintf("%02d", n) }
	switch c {
	case 'a':
		return t.Format("Mon")
	case 'A':
		return t.Format("Monday")
	case 'w':
		return strconv.Itoa(int(t.Weekday()))
	case 'u':
		return strconv.Itoa((int(t.Weekday())+6)%7 + 1)
	case 'd':
		return two(t.Day())
	case 'e':
		return fmt.Sprintf("%2d", t.Day())
	case 'b':
		return t.Format("Jan")
	case 'B':
		return t.Format("January")
	case 'm':
		return two(int(t.Month()))
	case 'y':
		return two(t.Year() % 100)
	case 'Y':
		return strconv.Itoa(t.Year())
	case 'H':
		return two(t.Hour())
	case 'I':
		return two((t.Hour()+11)%12 + 1)
	case 'p':
		return t.Format("PM")
	case 'M':
		return two(t.Minute())
	case 'S':
		return two(t.Second())
	case 'f':
		return fmt.Sprintf("%06d", t.Nanosecond()/1000)
	case 'z':
		return t.Format("-0700")
	case 'Z':
		return t.Format("MST")
	case 'j':
		return fmt.Sprintf("%03d", t.YearDay())
	case 'U': // week of the year, Sunday first; days before the first Sunday are week 0
		return two((t.YearDay() + 6 - int(t.Weekday())) / 7)
	case 'W': // the same with Monday first
		return two((t.YearDay() + 6 - (int(t.Weekday())+6)%7) / 7)
	case 'G':
		y, _ := t.ISOWeek()
		return strconv.Itoa(y)
	case 'V':
		_, w := t.ISOWeek()
		return two(w)
	case 'c':
		return t.Format("Mon Jan _2 15:04:05 2006")
	case 'x':
		return t.Format("01/02/06")
	case 'X':
		return t.Format("15:04:05")
	}
	return ""
}

// DatePrefix wraps w: each write (hclog writes one whole line per write,
// its own time switched off with DisableTime) is prefixed with the current
// time in f and a space.
func DatePrefix(w io.Writer, f *DateFormat) io.Writer {
	return datePrefix{w: w, f: f, now: time.Now}
}

type datePrefix struct {
	w   io.Writer
	f   *DateFormat
	now func() time.Time
}

func (d datePrefix) Write(p []byte) (int, error) {
	line := make([]byte, 0, len(p)+32)
	line = append(line, d.f.Format(d.now())...)
	line = append(line, ' ')
	line = append(line, p...)
	if _, err := d.w.Write(line); err != nil {
		return 0, err
	}
	return len(p), nil
}
