package ctl

import (
	"fmt"
	"strings"
)

// unifiedDiff renders the difference of two texts as Python's
// difflib.unified_diff does with no file names and 3 lines of context,
// which is what patronictl edit-config prints when stdout is not a
// terminal: "--- ", "+++ ", "@@ -a,b +c,d @@" hunks. Empty when equal.
func unifiedDiff(before, after string) string {
	a, b := diffLines(before), diffLines(after)
	groups := groupOpcodes(opcodes(a, b), 3)
	if len(groups) == 0 {
		return ""
	}
	var out strings.Builder
	out.WriteString("--- \n+++ \n")
	for _, g := range groups {
		first, last := g[0], g[len(g)-1]
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", unifiedRange(first.i1, last.i2), unifiedRange(first.j1, last.j2))
		for _, op := range g {
			if op.tag == 'e' {
				for _, l := range a[op.i1:op.i2] {
					out.WriteString(" " + l + "\n")
				}
				continue
			}
			for _, l := range a[op.i1:op.i2] {
				out.WriteString("-" + l + "\n")
			}
			for _, l := range b[op.j1:op.j2] {
				out.WriteString("+" + l + "\n")
			}
		}
	}
	return out.String()
}

// diffLines is patronictl's listify: the text without trailing newlines, split.
func diffLines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func unifiedRange(start, stop int) string {
	begin, length := start+1, stop-start
	if length == 1 {
		return fmt.Sprint(begin)
	}
	if length == 0 {
		begin--
	}
	return fmt.Sprintf("%d,%d", begin, length)
}

// opcode is difflib's (tag, i1, i2, j1, j2); tag 'e' equal, 'r' replace,
// 'd' delete, 'i' insert.
type opcode struct {
	tag            byte
	i1, i2, j1, j2 int
}

// opcodes derives edit operations from a longest common subsequence of lines.
func opcodes(a, b []string) []opcode {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []opcode
	add := func(tag byte, i1, i2, j1, j2 int) {
		if k := len(ops) - 1; k >= 0 && ops[k].tag == tag {
			ops[k].i2, ops[k].j2 = i2, j2
			return
		}
		ops = append(ops, opcode{tag, i1, i2, j1, j2})
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			add('e', i, i+1, j, j+1)
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			add('x', i, i, j, j+1)
			j++
		default:
			add('x', i, i+1, j, j)
			i++
		}
	}
	for k := range ops {
		if ops[k].tag == 'x' {
			switch {
			case ops[k].i1 == ops[k].i2:
				ops[k].tag = 'i'
			case ops[k].j1 == ops[k].j2:
				ops[k].tag = 'd'
			default:
				ops[k].tag = 'r'
			}
		}
	}
	return ops
}

// groupOpcodes is difflib's get_grouped_opcodes: hunks with n lines of
// context, split where more than 2n lines are equal.
func groupOpcodes(codes []opcode, n int) [][]opcode {
	if len(codes) == 0 {
		codes = []opcode{{'e', 0, 1, 0, 1}}
	}
	if c := &codes[0]; c.tag == 'e' {
		c.i1, c.j1 = max(c.i1, c.i2-n), max(c.j1, c.j2-n)
	}
	if c := &codes[len(codes)-1]; c.tag == 'e' {
		c.i2, c.j2 = min(c.i2, c.i1+n), min(c.j2, c.j1+n)
	}
	var groups [][]opcode
	var group []opcode
	for _, c := range codes {
		if c.tag == 'e' && c.i2-c.i1 > 2*n {
			group = append(group, opcode{'e', c.i1, min(c.i2, c.i1+n), c.j1, min(c.j2, c.j1+n)})
			groups = append(groups, group)
			group = nil
			c.i1, c.j1 = max(c.i1, c.i2-n), max(c.j1, c.j2-n)
		}
		group = append(group, c)
	}
	if len(group) > 0 && !(len(group) == 1 && group[0].tag == 'e') {
		groups = append(groups, group)
	}
	return groups
}
