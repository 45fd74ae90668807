package detect

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// A few keys of pyproject.toml, Cargo.toml and rust-toolchain.toml are all
// detection needs, so instead of a TOML module this file reads the subset
// those files use for them: [tables], [[arrays of tables]], key = value with
// basic or literal strings, and arrays of strings that may span lines.
// Anything else (inline tables, multi-line strings, dates) is kept as its
// raw text, which is enough to tell that a key is present. Values are
// validated where they are used, never trusted.

// tomlEntry is one key = value of a table.
type tomlEntry struct {
	table string // "project", "tool.poetry.dependencies", "bin"
	key   string
	raw   string // the value as written, comments removed
}

// tomlDoc is a TOML file as a list of entries, in file order, plus the
// headers of its tables.
type tomlDoc struct {
	entries []tomlEntry
	tables  []string
}

// parseTOML reads text; it never fails, lines it does not understand are
// skipped.
func parseTOML(text string) tomlDoc {
	var doc tomlDoc
	table := ""
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(stripTOMLComment(lines[i]))
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			name := strings.Trim(line, "[] \t")
			table = strings.ReplaceAll(name, " ", "")
			table = strings.ReplaceAll(table, `"`, "")
			doc.tables = append(doc.tables, table)
			continue
		}
		eq := strings.Index(line, "=")
		if eq <= 0 {
			continue
		}
		key := strings.Trim(strings.TrimSpace(line[:eq]), `"'`)
		raw := strings.TrimSpace(line[eq+1:])
		// An array may continue over the next lines until its brackets
		// balance.
		if strings.HasPrefix(raw, "[") {
			for depth := bracketDepth(raw); depth > 0 && i+1 < len(lines); depth = bracketDepth(raw) {
				i++
				raw += " " + strings.TrimSpace(stripTOMLComment(lines[i]))
			}
		}
		doc.entries = append(doc.entries, tomlEntry{table: table, key: key, raw: raw})
	}
	return doc
}

// stripTOMLComment removes a # comment that is not inside a string.
func stripTOMLComment(line string) string {
	var quote rune
	escaped := false
	for i, r := range line {
		switch {
		case escaped:
			escaped = false
		case quote == '"' && r == '\\':
			escaped = true
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '#':
			return line[:i]
		}
	}
	return line
}

// bracketDepth counts unclosed [ outside strings.
func bracketDepth(s string) int {
	depth := 0
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case quote == '"' && r == '\\':
			escaped = true
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '[':
			depth++
		case r == ']':
			depth--
		}
	}
	return depth
}

// get returns the raw value of key in table.
func (d tomlDoc) get(table, key string) (string, bool) {
	for _, e := range d.entries {
		if e.table == table && e.key == key {
			return e.raw, true
		}
	}
	return "", false
}

// str returns the string value of key in table.
func (d tomlDoc) str(table, key string) (string, bool) {
	raw, ok := d.get(table, key)
	if !ok {
		return "", false
	}
	return tomlString(raw)
}

// keys returns the keys of table, in order.
func (d tomlDoc) keys(table string) []string {
	var out []string
	for _, e := range d.entries {
		if e.table == table {
			out = append(out, e.key)
		}
	}
	return out
}

// list returns the strings of an array value of key in table.
func (d tomlDoc) list(table, key string) []string {
	raw, ok := d.get(table, key)
	if !ok {
		return nil
	}
	return tomlStrings(raw)
}

// hasTable reports whether the document has the table or one below it.
func (d tomlDoc) hasTable(name string) bool {
	for _, t := range d.tables {
		if t == name || strings.HasPrefix(t, name+".") {
			return true
		}
	}
	return false
}

// tomlString decodes a basic ("...") or literal ('...') string. Escapes
// are decoded, so an escaped newline becomes a newline that validation
// then refuses.
func tomlString(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if len(raw) < 2 {
		return "", false
	}
	switch raw[0] {
	case '\'':
		end := strings.IndexByte(raw[1:], '\'')
		if end < 0 {
			return "", false
		}
		return raw[1 : 1+end], true
	case '"':
		// The TOML basic string escapes are a subset of Go's, except \e
		// and \UXXXXXXXX; strconv reads the rest.
		end := closingQuote(raw)
		if end < 0 {
			return "", false
		}
		s, err := strconv.Unquote(raw[:end+1])
		if err != nil || !utf8.ValidString(s) {
			return "", false
		}
		return s, true
	}
	return "", false
}

// closingQuote returns the index of the " that ends the basic string
// starting at raw[0].
func closingQuote(raw string) int {
	escaped := false
	for i := 1; i < len(raw); i++ {
		switch {
		case escaped:
			escaped = false
		case raw[i] == '\\':
			escaped = true
		case raw[i] == '"':
			return i
		}
	}
	return -1
}

// tomlStrings returns the string elements of an array such as
// ["a", 'b', "c"], skipping anything that is not a string.
func tomlStrings(raw string) []string {
	raw = strings.TrimSpace(raw)
	if !strings.HasPrefix(raw, "[") {
		return nil
	}
	var out []string
	for i := 1; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			end := closingQuote(raw[i:])
			if end < 0 {
				return out
			}
			if s, ok := tomlString(raw[i : i+end+1]); ok {
				out = append(out, s)
			}
			i += end
		case '\'':
			end := strings.IndexByte(raw[i+1:], '\'')
			if end < 0 {
				return out
			}
			out = append(out, raw[i+1:i+1+end])
			i += end + 1
		}
	}
	return out
}
