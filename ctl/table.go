package ctl

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// table renders patronictl's prettytable layout: a border with an
// optional title laid over its start, a header row, rows, and a border.
type table struct {
	title   string
	headers []string
	right   map[int]bool // right-aligned columns
	rows    [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	widths := make([]int, len(t.headers))
	for i, h := range t.headers {
		widths[i] = utf8.RuneCountInString(h)
	}
	multi := false // a multi-line cell: prettytable's hrules=ALL, a border after every row
	for _, r := range t.rows {
		for i, c := range r {
			for _, l := range strings.Split(c, "\n") {
				if n := utf8.RuneCountInString(l); n > widths[i] {
					widths[i] = n
				}
			}
			multi = multi || strings.Contains(c, "\n")
		}
	}
	border := t.border(widths)
	fmt.Fprintln(w, t.titled(border))
	fmt.Fprintln(w, t.line(widths, t.headers))
	fmt.Fprintln(w, border)
	for i, r := range t.rows {
		for _, l := range splitRow(r) {
			fmt.Fprintln(w, t.line(widths, l))
		}
		if multi && i < len(t.rows)-1 {
			fmt.Fprintln(w, border)
		}
	}
	fmt.Fprintln(w, border)
}

// splitRow turns a row with multi-line cells into several lines, each cell
// at the top of its row (prettytable's valign "t").
func splitRow(r []string) [][]string {
	n := 1
	split := make([][]string, len(r))
	for i, c := range r {
		split[i] = strings.Split(c, "\n")
		if len(split[i]) > n {
			n = len(split[i])
		}
	}
	out := make([][]string, n)
	for j := range out {
		out[j] = make([]string, len(r))
		for i := range r {
			if j < len(split[i]) {
				out[j][i] = split[i][j]
			}
		}
	}
	return out
}

func (t *table) border(widths []int) string {
	var b strings.Builder
	b.WriteString("+")
	for _, w := range widths {
		b.WriteString(strings.Repeat("-", w+2))
		b.WriteString("+")
	}
	return b.String()
}

// titled lays " title " over the border after its first "+", as
// patronictl's PatronictlPrettyTable does: a title too long for the
// border is cut so that the border keeps its length and its last "+".
func (t *table) titled(border string) string {
	if t.title == "" {
		return border
	}
	b := []rune(border) // the border is ASCII, the title may not be
	title := []rune(" " + t.title + " ")
	if len(title) > len(b)-2 {
		title = title[:len(b)-2]
	}
	return string(b[:1]) + string(title) + string(b[1+len(title):])
}

// line renders one row; a header cell is aligned like its column, as
// prettytable does (patronictl history shows "|      LSN |").
func (t *table) line(widths []int, cells []string) string {
	var b strings.Builder
	b.WriteString("|")
	for i, w := range widths {
		c := ""
		if i < len(cells) {
			c = cells[i]
		}
		pad := strings.Repeat(" ", w-utf8.RuneCountInString(c))
		if t.right[i] {
			b.WriteString(" " + pad + c + " |")
		} else {
			b.WriteString(" " + c + pad + " |")
		}
	}
	return b.String()
}
