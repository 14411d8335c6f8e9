package shell

import (
	"fmt"
	"strings"
)

// opts holds parsed options: each short letter maps to its values, one
// "" per occurrence for options without a value.
type opts map[byte][]string

func (o opts) has(b byte) bool { return len(o[b]) > 0 }

// last returns the last value given for b, or def.
func (o opts) last(b byte, def string) string {
	if v := o[b]; len(v) > 0 {
		return v[len(v)-1]
	}
	return def
}

// parseFlags parses GNU-style options. spec lists the short letters, each
// followed by ':' if it takes a value; longs maps long names (without
// "--") to a short letter. Options may come after operands, as with GNU
// getopt, and "--" ends them. On a bad option it prints GNU's message and
// returns ok=false: the command should exit with status 2.
func (c *cmdCtx) parseFlags(args []string, spec string, longs map[string]byte) (o opts, operands []string, ok bool) {
	o = opts{}
	takesValue := func(b byte) (known, value bool) {
		i := strings.IndexByte(spec, b)
		if i < 0 || b == ':' {
			return false, false
		}
		return true, i+1 < len(spec) && spec[i+1] == ':'
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return o, append(operands, args[i+1:]...), true
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			b, known := longs[name]
			if !known {
				// Unambiguous prefixes are accepted, as getopt_long does.
				var match []string
				for l := range longs {
					if strings.HasPrefix(l, name) {
						match = append(match, l)
					}
				}
				if len(match) != 1 {
					c.usage("unrecognized option '%s'", a)
					return nil, nil, false
				}
				b = longs[match[0]]
			}
			_, value := takesValue(b)
			switch {
			case value && !hasVal:
				if i+1 >= len(args) {
					c.usage("option '%s' requires an argument", a)
					return nil, nil, false
				}
				i++
				val = args[i]
			case !value && hasVal:
				c.usage("option '--%s' doesn't allow an argument", name)
				return nil, nil, false
			}
			o[b] = append(o[b], val)
		case strings.HasPrefix(a, "-") && a != "-":
			for j := 1; j < len(a); j++ {
				b := a[j]
				known, value := takesValue(b)
				if !known {
					c.usage("invalid option -- '%c'", b)
					return nil, nil, false
				}
				if !value {
					o[b] = append(o[b], "")
					continue
				}
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						c.usage("option requires an argument -- '%c'", b)
						return nil, nil, false
					}
					i++
					val = args[i]
				}
				o[b] = append(o[b], val)
				break
			}
		default:
			operands = append(operands, a)
		}
	}
	return o, operands, true
}

// usage prints a GNU-style option error.
func (c *cmdCtx) usage(format string, args ...any) {
	c.errorf(format, args...)
	fmt.Fprintf(c.stderr, "Try '%s --help' for more information.\n", c.name)
}

// missing reports a missing operand the GNU way and returns status 2.
func (c *cmdCtx) missing(what string) int {
	c.usage("missing %s", what)
	return 2
}
