// Command node is the stand-in node the docker and nemesis tests start: it
// needs no system under test, only a container with a network namespace.
// It answers "ok" on TCP port 8080, says on standard error that it is up,
// and counts its starts in $DATA/starts (the data folder, when given), so a
// test can tell that data survives a kill and restart. `node -cat FILE`
// prints a file (the image has no shell), for `docker exec`; `node -exit N`
// exits with status N.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-cat" {
		b, err := os.ReadFile(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Stdout.Write(b)
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "-exit" {
		n, _ := strconv.Atoi(os.Args[2])
		fmt.Println("exiting with", n)
		os.Exit(n)
	}
	host, _ := os.Hostname()
	starts := 1
	if dir := os.Getenv("DATA"); dir != "" {
		path := filepath.Join(dir, "starts")
		if b, err := os.ReadFile(path); err == nil {
			n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			starts = n + 1
		}
		if err := os.WriteFile(path, []byte(strconv.Itoa(starts)+"\n"), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "test node %s: %v\n", host, err)
		}
	}
	ln, err := net.Listen("tcp", ":8080")
	if err != nil {
		fmt.Fprintf(os.Stderr, "test node %s: %v\n", host, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "test node %s up (start %d), args %q\n", host, starts, os.Args[1:])
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok\n"))
			c.Close()
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
