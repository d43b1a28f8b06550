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
	if t.title != "" {
		title := "+ " + t.title + " "
		for utf8.RuneCountInString(title) >= len(border) {
			widths[len(widths)-1]++
			border = t.border(widths)
		}
		fmt.Fprintln(w, title+border[len(title):])
	} else {
		fmt.Fprintln(w, border)
	}
	fmt.Fprintln(w, t.line(widths, t.headers, true))
	fmt.Fprintln(w, border)
	for _, r := range t.rows {
		fmt.Fprintln(w, t.line(widths, r, false))
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

func (t *table) line(widths []int, cells []string, header bool) string {
	var b strings.Builder
	b.WriteString("|")
	for i, w := range widths {
		c := ""
		if i < len(cells) {
			c = cells[i]
		}
		pad := strings.Repeat(" ", w-utf8.RuneCountInString(c))
		if t.right[i] && !header {
			b.WriteString(" " + pad + c + " |")
		} else {
			b.WriteString(" " + c + pad + " |")
		}
	}
	return b.String()
}
