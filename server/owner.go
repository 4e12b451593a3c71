package server

import (
	"context"
	"net"
	"os/user"
	"strconv"

	"golang.org/x/sys/unix"
)

// ownerKey is the context key of the submitting user a connection stands
// for (see job.Spec.Owner).
type ownerKey struct{}

// OwnerToken is the owner of jobs submitted on TCP: whoever holds the token.
const OwnerToken = "token"

// connOwner puts in ctx who is at the other end of c: on a unix socket the
// user of the peer process (SO_PEERCRED, which it cannot forge), on TCP
// OwnerToken.
func connOwner(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return context.WithValue(ctx, ownerKey{}, OwnerToken)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return ctx
	}
	uid := strconv.Itoa(int(cred.Uid))
	name := uid
	if u, err := user.LookupId(uid); err == nil {
		name = u.Username
	}
	return context.WithValue(ctx, ownerKey{}, name)
}

// owner returns the submitting user of a request, "" if unknown (the
// handler used without Serve).
func owner(ctx context.Context) string {
	s, _ := ctx.Value(ownerKey{}).(string)
	return s
}
