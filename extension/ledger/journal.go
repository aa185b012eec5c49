package ledger

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"
)

// JournalVersion is the journal format version written in the header line.
const JournalVersion = 1

// Journal format (NDJSON, one JSON object per line; "m" is monotonic
// nanoseconds since the writing process started):
//
//	{"t":"hdr","v":1,"run":R,"inst":I,"host":H,"wall0":NS,"epsMs":E,"low":L,"overdraft":B,"sign":S}
//	(sign: "positive" or "negative" when configured, absent for auto; "seg" and
//	"seq": the execution segment and sequence of a split run)
//	{"t":"open"|"close","a":ACCT,"m":M,"bal":N[,"used":N][,"ver":N][,"lowN":B,"depN":B]}
//	{"t":"beg","id":N,"a":ACCT,"f":FEATURE,"amt":N,"key":K,"m":M}
//	{"t":"end","id":N,"o":"ok"|"insufficient"|"rejected"|"unknown"[,"bal":N][,"ver":N][,"tx":S][,"chg":N][,"st":N][,"c":"timeout"|"error"][,"rp":1],"m":M}
//	{"t":"rd","id":N,"a":ACCT,"m0":CALL,"m":RET,"bal":N[,"used":N][,"ver":N][,"lowN":B,"depN":B]}
//	{"t":"notif","a":ACCT,"m":M,"list":[{"k":KIND[,"bal":N][,"at":S]}...]}
//	{"t":"log","a":ACCT,"m":M[,"id":S,"f":S,"amt":N[,"bal":N],"key":S[,"at":S]]}
//	{"t":"ftr","lines":N}
//
// Lines may appear out of "m" order (each account's lines are in order);
// readers pair "beg" and "end" by id. An "end" with "rp" is a replay that
// resolves an earlier unknown outcome. A "notif" line replaces the account's
// notices; "log" lines add transactions (a line without "id" only marks that
// the log was handed over). The footer counts the lines before it.

// journalWriter streams journal lines to w. Lines arrive in chunks from the
// shards' buffers, so memory stays bounded by the shard buffers.
type journalWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer // closed by close when the ledger opened the file
	lines  int64
	err    error
	closed bool
}

// journalChunk is the size at which a shard hands its buffered lines to the writer.
const journalChunk = 32 << 10

func (j *journalWriter) write(b []byte, lines int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed || j.err != nil {
		return
	}
	if _, err := j.w.Write(b); err != nil {
		j.err = fmt.Errorf("write journal: %w", err)
		return
	}
	j.lines += int64(lines)
}

func (j *journalWriter) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return j.err
	}
	j.closed = true
	if j.err == nil {
		line := appendFooter(nil, j.lines)
		if _, err := j.w.Write(line); err != nil {
			j.err = fmt.Errorf("write journal footer: %w", err)
		}
	}
	if f, ok := j.w.(interface{ Flush() error }); ok && j.err == nil {
		if err := f.Flush(); err != nil {
			j.err = fmt.Errorf("flush journal: %w", err)
		}
	}
	if j.closer != nil {
		if err := j.closer.Close(); err != nil && j.err == nil {
			j.err = fmt.Errorf("close journal: %w", err)
		}
	}
	return j.err
}

func (j *journalWriter) failure() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// instanceHeader is the content of a journal's header line.
type instanceHeader struct {
	Run       string
	Inst      string
	Host      string
	Wall0     int64 // Unix nanoseconds at which m was 0
	EpsMs     float64
	Low       int64
	Overdraft bool
	Sign      AmountSign
	Segment   string
	Sequence  string
}

func appendHeader(b []byte, h instanceHeader) []byte {
	b = append(b, `{"t":"hdr","v":`...)
	b = strconv.AppendInt(b, JournalVersion, 10)
	b = appendKey(b, "run")
	b = appendString(b, h.Run)
	b = appendKey(b, "inst")
	b = appendString(b, h.Inst)
	b = appendKey(b, "host")
	b = appendString(b, h.Host)
	b = appendIntField(b, "wall0", h.Wall0)
	b = appendKey(b, "epsMs")
	b = strconv.AppendFloat(b, h.EpsMs, 'f', -1, 64)
	b = appendIntField(b, "low", h.Low)
	b = appendKey(b, "overdraft")
	b = strconv.AppendBool(b, h.Overdraft)
	if h.Sign != SignAuto {
		b = appendKey(b, "sign")
		b = appendString(b, string(h.Sign))
	}
	if h.Segment != "" {
		b = appendKey(b, "seg")
		b = appendString(b, h.Segment)
	}
	if h.Sequence != "" {
		b = appendKey(b, "seq")
		b = appendString(b, h.Sequence)
	}
	return append(b, "}\n"...)
}

func appendFooter(b []byte, lines int64) []byte {
	b = append(b, `{"t":"ftr","lines":`...)
	b = strconv.AppendInt(b, lines, 10)
	return append(b, "}\n"...)
}

// appendSnapLine appends an "open" or "close" line.
func appendSnapLine(b []byte, t, acct string, m0, m int64, s Snapshot) []byte {
	b = append(b, `{"t":"`...)
	b = append(b, t...)
	b = append(b, `"`...)
	b = appendKey(b, "a")
	b = appendString(b, acct)
	if m0 != m {
		b = appendIntField(b, "m0", m0)
	}
	b = appendIntField(b, "m", m)
	b = appendSnapFields(b, s)
	return append(b, "}\n"...)
}

func appendSnapFields(b []byte, s Snapshot) []byte {
	b = appendIntField(b, "bal", s.Balance)
	if s.HasUsed {
		b = appendIntField(b, "used", s.Used)
	}
	if s.HasVersion {
		b = appendIntField(b, "ver", s.Version)
	}
	if s.HasFlags {
		b = appendKey(b, "lowN")
		b = strconv.AppendBool(b, s.LowNotified)
		b = appendKey(b, "depN")
		b = strconv.AppendBool(b, s.DepletedNotified)
	}
	return b
}

func appendReadLine(b []byte, id uint64, acct string, m0, m int64, s Snapshot) []byte {
	b = append(b, `{"t":"rd","id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = appendKey(b, "a")
	b = appendString(b, acct)
	b = appendIntField(b, "m0", m0)
	b = appendIntField(b, "m", m)
	b = appendSnapFields(b, s)
	return append(b, "}\n"...)
}

func appendBeginLine(b []byte, id uint64, acct, feature string, amount int64, key string, m int64) []byte {
	b = append(b, `{"t":"beg","id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = appendKey(b, "a")
	b = appendString(b, acct)
	b = appendKey(b, "f")
	b = appendString(b, feature)
	b = appendIntField(b, "amt", amount)
	b = appendKey(b, "key")
	b = appendString(b, key)
	b = appendIntField(b, "m", m)
	return append(b, "}\n"...)
}

func appendEndLine(b []byte, id uint64, o Outcome, replay bool, m int64) []byte {
	b = append(b, `{"t":"end","id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = appendKey(b, "o")
	b = appendString(b, o.Kind.String())
	if o.HasBalance {
		b = appendIntField(b, "bal", o.Balance)
	}
	if o.HasVersion {
		b = appendIntField(b, "ver", o.Version)
	}
	if o.TxID != "" {
		b = appendKey(b, "tx")
		b = appendString(b, o.TxID)
	}
	if o.HasCharged {
		b = appendIntField(b, "chg", o.Charged)
	}
	if o.Status != 0 {
		b = appendIntField(b, "st", int64(o.Status))
	}
	if o.Cause != CauseNone {
		b = appendKey(b, "c")
		b = appendString(b, o.Cause.String())
	}
	if replay {
		b = append(b, `,"rp":1`...)
	}
	b = appendIntField(b, "m", m)
	return append(b, "}\n"...)
}

func appendNoticesLine(b []byte, acct string, m int64, list []Notice) []byte {
	b = append(b, `{"t":"notif","a":`...)
	b = appendString(b, acct)
	b = appendIntField(b, "m", m)
	b = append(b, `,"list":[`...)
	for i, n := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"k":`...)
		b = appendString(b, n.Kind)
		if n.HasRemaining {
			b = appendIntField(b, "bal", n.Remaining)
		}
		if n.CreatedAt != "" {
			b = appendKey(b, "at")
			b = appendString(b, n.CreatedAt)
		}
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

func appendLogLine(b []byte, acct string, m int64, tx *LogTx) []byte {
	b = append(b, `{"t":"log","a":`...)
	b = appendString(b, acct)
	b = appendIntField(b, "m", m)
	if tx != nil {
		b = appendKey(b, "id")
		b = appendString(b, tx.ID)
		b = appendKey(b, "f")
		b = appendString(b, tx.Feature)
		b = appendIntField(b, "amt", tx.Amount)
		if tx.HasBalance {
			b = appendIntField(b, "bal", tx.BalanceAfter)
		}
		b = appendKey(b, "key")
		b = appendString(b, tx.Key)
		if tx.CreatedAt != "" {
			b = appendKey(b, "at")
			b = appendString(b, tx.CreatedAt)
		}
	}
	return append(b, "}\n"...)
}

func appendKey(b []byte, k string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func appendIntField(b []byte, k string, v int64) []byte {
	return strconv.AppendInt(appendKey(b, k), v, 10)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json writes
// it without HTML escaping: quotes, backslashes, control characters and
// U+2028/U+2029 escaped, invalid UTF-8 replaced by U+FFFD. It is the same
// contract as internal/output's appendString (the ledger may not import
// internal/); TestAppendStringMatchesEncodingJSON pins both.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
