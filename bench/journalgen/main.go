// Command journalgen writes a synthetic ledger journal (the NDJSON format of extension/ledger) of a
// correct service: -accounts accounts, -ops confirmed deductions spread over them in turn (amounts 1-5,
// each with its balance after), optionally each account's server log (-log), and the closing
// snapshots. It is for measuring `tally ledger verify` at sizes no test run reaches (docs/benchmarks.md):
//
//	go run ./bench/journalgen -ops 10000000 -accounts 1000 -out big.ndjson
//	/usr/bin/time -v bin/tally ledger verify big.ndjson
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
)

func main() {
	ops := flag.Int64("ops", 1_000_000, "deductions in all")
	accounts := flag.Int64("accounts", 1000, "accounts")
	withLog := flag.Bool("log", false, "also write every account's server log")
	out := flag.String("out", "journal.ndjson", "output file")
	flag.Parse()
	if *accounts < 1 || *ops < 0 {
		fmt.Fprintln(os.Stderr, "journalgen: -accounts must be >= 1 and -ops >= 0")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "journalgen:", err)
		os.Exit(1)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	lines := int64(0)
	line := func(s string) {
		w.WriteString(s)
		w.WriteByte('\n')
		lines++
	}
	line(`{"t":"hdr","v":1,"run":"gen","inst":"i0","host":"gen","wall0":0,"epsMs":5,"low":50,"overdraft":false}`)
	per := *ops / *accounts
	bal := make([]int64, *accounts)
	m := int64(0)
	for a := range *accounts {
		bal[a] = per*5 + 1000
		m++
		line(`{"t":"open","a":"acct` + strconv.FormatInt(a, 10) + `","m":` + strconv.FormatInt(m, 10) + `,"bal":` + strconv.FormatInt(bal[a], 10) + `}`)
	}
	type tx struct{ amt, after, id int64 }
	var logs [][]tx
	if *withLog {
		logs = make([][]tx, *accounts)
	}
	for id := int64(1); id <= *ops; id++ {
		a := id % *accounts
		amt := 1 + id%5
		bal[a] -= amt
		acct := "acct" + strconv.FormatInt(a, 10)
		m++
		line(`{"t":"beg","id":` + strconv.FormatInt(id, 10) + `,"a":"` + acct + `","f":"f","amt":` + strconv.FormatInt(amt, 10) + `,"key":"gen:i0:` + strconv.FormatInt(id, 10) + `","m":` + strconv.FormatInt(m, 10) + `}`)
		m++
		line(`{"t":"end","id":` + strconv.FormatInt(id, 10) + `,"o":"ok","bal":` + strconv.FormatInt(bal[a], 10) + `,"tx":"t` + strconv.FormatInt(id, 10) + `","m":` + strconv.FormatInt(m, 10) + `}`)
		if logs != nil {
			logs[a] = append(logs[a], tx{amt, bal[a], id})
		}
	}
	for a := range *accounts {
		acct := "acct" + strconv.FormatInt(a, 10)
		m++
		if logs != nil {
			for _, x := range logs[a] {
				line(`{"t":"log","a":"` + acct + `","m":` + strconv.FormatInt(m, 10) + `,"id":"t` + strconv.FormatInt(x.id, 10) + `","f":"f","amt":` + strconv.FormatInt(x.amt, 10) + `,"bal":` + strconv.FormatInt(x.after, 10) + `,"key":"gen:i0:` + strconv.FormatInt(x.id, 10) + `"}`)
			}
		}
		line(`{"t":"close","a":"` + acct + `","m":` + strconv.FormatInt(m, 10) + `,"bal":` + strconv.FormatInt(bal[a], 10) + `}`)
	}
	fmt.Fprintf(w, `{"t":"ftr","lines":%d}`+"\n", lines-1) // the footer counts the lines between it and the header
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "journalgen:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "journalgen:", err)
		os.Exit(1)
	}
}
