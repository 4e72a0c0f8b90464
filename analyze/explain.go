package analyze

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// The rule reference: `teardown explain CODE` prints one entry of the rule
// book, `teardown explain` lists them, and rules.md is generated from the
// same fields (WriteRulesMarkdown).

// ErrUnknownCode is wrapped by the error Explain returns for a code that
// is not a diagnosis code.
var ErrUnknownCode = errors.New("analyze: unknown diagnosis code")

// Explain writes code's reference entry as plain text: its meaning, the
// knob with its default and what raising or lowering it does, and how to
// confirm it on the host. An empty code lists every code with its
// severity, knob and title. An unknown code is an error that lists the
// known ones.
func Explain(w io.Writer, code string) error {
	if code == "" {
		return explainList(w)
	}
	r, ok := ruleInfo(code)
	if !ok {
		codes := make([]string, len(ruleBook))
		for i, r := range ruleBook {
			codes[i] = r.Code
		}
		return fmt.Errorf("%w %q; known codes: %s", ErrUnknownCode, code, strings.Join(codes, ", "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s\n\n", r.Code, r.Title)
	for _, f := range r.fields() {
		for i, line := range wrap(f[1], 78-11) {
			label := f[0]
			if i > 0 {
				label = ""
			}
			fmt.Fprintf(&b, "%-10s %s\n", label, line)
		}
	}
	b.WriteString("\n")
	for _, line := range wrap(r.Meaning, 78) {
		b.WriteString(line + "\n")
	}
	if len(r.Confirm) > 0 {
		b.WriteString("\nconfirm on " + r.ConfirmWhere() + ":\n")
		for _, c := range r.Confirm {
			b.WriteString("    " + c + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// explainList writes one line per code.
func explainList(w io.Writer) error {
	var b strings.Builder
	width := 0
	for _, r := range ruleBook {
		width = max(width, len(r.Code))
	}
	for _, r := range ruleBook {
		fmt.Fprintf(&b, "%-*s  %-7s  %s\n", width, r.Code, r.Severity, r.Title)
		fmt.Fprintf(&b, "%-*s  %-7s  %s\n", width, "", "", r.knob())
	}
	b.WriteString("\nteardown explain CODE says what a code means, what its knob does and how to confirm it.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// knob names the rule's knobs in one line.
func (r RuleInfo) knob() string {
	if r.Sysctl == "" && len(r.Also) > 0 {
		return "no sysctl, or " + strings.Join(r.Also, ", ")
	}
	if r.Sysctl == "" {
		return "no sysctl"
	}
	if len(r.Also) == 0 {
		return r.Sysctl
	}
	return r.Sysctl + " (also " + strings.Join(r.Also, ", ") + ")"
}

// fields are the reference entry's labelled lines, in order.
func (r RuleInfo) fields() [][2]string {
	out := [][2]string{{"severity", string(r.Severity)}}
	if r.Sysctl == "" {
		none := "none"
		if len(r.Also) > 0 {
			none += ", or " + strings.Join(r.Also, ", ") + " (see below)"
		}
		if r.Raise != "" {
			none += " — " + r.Raise
		}
		out = append(out, [2]string{"sysctl", none})
	} else {
		out = append(out, [2]string{"sysctl", r.knob()})
		if r.Default != "" {
			out = append(out, [2]string{"default", r.Default})
		}
		out = append(out, [2]string{"raising", r.Raise}, [2]string{"lowering", r.Lower})
	}
	switch {
	case r.Doubt != "" && r.Settled:
		out = append(out, [2]string{"confidence", "medium: " + r.Doubt + " (host settings that agree, given with --sysctl, settle it)"})
	case r.Doubt != "":
		out = append(out, [2]string{"confidence", "medium: " + r.Doubt})
	default:
		out = append(out, [2]string{"confidence", "high, unless the capture weakens it"})
	}
	switch {
	case r.Scope != "":
		out = append(out, [2]string{"scope", r.Scope})
	case r.CrossFlow:
		out = append(out, [2]string{"scope", "several flows: the summary draws it"})
	}
	if r.Kernel != "" && r.Kernel != "—" {
		out = append(out, [2]string{"kernel", "KERNEL.md " + r.Kernel})
	}
	return out
}

// wrap breaks text into lines of at most width columns at spaces.
func wrap(text string, width int) []string {
	var lines []string
	var cur strings.Builder
	for _, word := range strings.Fields(text) {
		if cur.Len() > 0 && cur.Len()+1+len([]rune(word)) > width {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(word)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

// WriteRulesMarkdown writes the rule book as Markdown: the text of
// analyze/rules.md.
func WriteRulesMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# teardown diagnosis rules\n\n")
	b.WriteString("<!-- Generated from analyze/rules_ref.go by `go test ./analyze -run TestRulesMarkdown -update`; do not edit. -->\n\n")
	b.WriteString("Every diagnosis teardown reports, the knob that governs it, and how to confirm it on the host. ")
	b.WriteString("`teardown explain CODE` prints the same text. KERNEL.md rows are those of the kernel reference the rules rest on.\n\n")
	b.WriteString("| code | severity | knob |\n|---|---|---|\n")
	for _, r := range ruleBook {
		k := "—"
		if r.Sysctl != "" {
			k = "`" + r.Sysctl + "`"
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", r.Code, r.Code, r.Severity, k)
	}
	for _, r := range ruleBook {
		fmt.Fprintf(&b, "\n## %s\n\n%s.\n\n", r.Code, upperFirst(r.Title))
		for _, f := range r.fields() {
			fmt.Fprintf(&b, "- **%s**: %s\n", f[0], mdEscape(f[1]))
		}
		fmt.Fprintf(&b, "\n%s\n", mdEscape(r.Meaning))
		if len(r.Confirm) > 0 {
			b.WriteString("\nConfirm on " + r.ConfirmWhere() + ":\n\n```\n")
			for _, c := range r.Confirm {
				b.WriteString(c + "\n")
			}
			b.WriteString("```\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// mdEscape keeps Markdown from reading the reference text's symbols.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`, "<", "&lt;").Replace(s)
}
