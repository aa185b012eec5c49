package ledger

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// FuzzReadJournal: any bytes as a journal give journal data or a
// *JournalError (wrapping ErrBadJournal) naming a line within the input;
// never a panic. What reads also verifies without a panic.
func FuzzReadJournal(f *testing.F) {
	hdr := `{"t":"hdr","v":1,"run":"r","inst":"i0","host":"","wall0":0,"epsMs":0,"low":50,"overdraft":false}` + "\n"
	for _, s := range []string{
		hdr + `{"t":"open","a":"a","m":1,"bal":100}` + "\n" + `{"t":"beg","id":1,"a":"a","f":"x","amt":5,"m":2}` + "\n" +
			`{"t":"end","id":1,"o":"ok","bal":95,"m":3}` + "\n" + `{"t":"close","a":"a","m":4,"bal":95}` + "\n" + `{"t":"ftr","lines":4}` + "\n",
		hdr + `{"t":"rd","id":2,"a":"a","m0":1,"m":2,"bal":5,"used":1,"ver":3,"lowN":true,"depN":false}` + "\n",
		hdr + `{"t":"end","id":1,"o":"unknown","c":"timeout","rp":1,"m":1}` + "\n",
		hdr + `{"t":"notif","a":"a","m":1,"list":[{"k":"low","bal":4,"at":"x"}]}` + "\n" + `{"t":"log","a":"a","m":1,"id":"t1","f":"x","amt":-5,"bal":1}` + "\n",
		hdr + `{"t":"beg","id":1,"a":"a","amt":-5,"m":1}` + "\n",
		hdr + `{"t":"ftr","lines":0}` + "\n" + hdr,
		hdr + `{"t":"beg","id":1,"a":"a","f":"x","am`,
		"", "\n\n", "not json\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := readJournal(context.Background(), bytes.NewReader(b), "fuzz.ndjson", t.TempDir())
		if err != nil {
			var je *JournalError
			if !errors.As(err, &je) || je.Path != "fuzz.ndjson" {
				t.Fatalf("error %v is not a JournalError naming the file", err)
			}
			if je.Line > bytes.Count(b, []byte("\n"))+1 {
				t.Fatalf("line %d beyond the input: %v", je.Line, err)
			}
			return
		}
		defer st.release()
		_, _ = verifySources(context.Background(), []source{st}, st.notes, VerifyOptions{groupRecords: 2})
	})
}
