package main

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
	for _, r := range t.rows {
		for i, c := range r {
			if n := utf8.RuneCountInString(c); n > widths[i] {
				widths[i] = n
			}
		}
	}
	border := t.border(widths)
	fmt.Fprintln(w, t.titled(border))
	fmt.Fprintln(w, t.line(widths, t.headers))
	fmt.Fprintln(w, border)
	for _, r := range t.rows {
		fmt.Fprintln(w, t.line(widths, r))
	}
	fmt.Fprintln(w, border)
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
