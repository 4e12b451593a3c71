package main

import (
	"net"
	"os"
	"strings"
)

// sdNotify tells systemd (Type=notify) that berth serve is ready: it
// writes state to $NOTIFY_SOCKET, a datagram socket ("@" names an abstract
// one). Without the variable it does nothing.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
