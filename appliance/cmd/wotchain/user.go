package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/appliance/daemon"
	"github.com/wotchain/wotchain/appliance/httpauth"
)

// minPassword is the shortest password accepted (NIST SP 800-63B's floor).
const minPassword = 8

// userIO is where a user command reads a password and writes its output.
type userIO struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// cmdUser manages the HTTP interface's users file: add, passwd, remove,
// token and list.
func cmdUser(args []string, uio userIO) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: user add|passwd|remove|token|list --config FILE NAME", errUsage)
	}
	verb, args := args[0], args[1:]
	fs := newFlags("user " + verb)
	path := fs.String("config", "", "configuration file")
	role := fs.String("role", "viewer", "viewer or admin (user add)")
	name, err := parseUserArgs(fs, args, verb != "list")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	file := cfg.UsersFile()
	users, err := httpauth.ReadUsers(file)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(users, func(u httpauth.User) bool { return u.Name == name })
	switch verb {
	case "list":
		for _, u := range users {
			fmt.Fprintf(uio.stdout, "%s\t%s\tpassword=%v\ttokens=%d\n", u.Name, u.Role, u.PasswordHash != "", len(u.TokenHashes))
		}
		return nil
	case "add":
		users, err = userAdd(users, i, name, *role, uio)
	case "passwd":
		err = userPasswd(users, i, name, uio)
	case "remove":
		if i < 0 {
			return fmt.Errorf("no user %q in %s", name, file)
		}
		users = slices.Delete(users, i, i+1)
	case "token":
		users, err = userToken(users, i, name, *role, uio)
	default:
		return fmt.Errorf("%w: unknown user command %q (add, passwd, remove, token, list)", errUsage, verb)
	}
	if err != nil {
		return err
	}
	if err := httpauth.WriteUsers(file, users); err != nil {
		return err
	}
	fmt.Fprintf(uio.stderr, "%s: %s %s\n", file, verb, name)
	warnAuthOff(cfg, uio.stderr)
	return nil
}

// parseUserArgs takes the flags before and after the user name, which the
// flag package alone stops at.
func parseUserArgs(fs interface {
	Parse([]string) error
	Args() []string
}, args []string, needName bool) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	rest := fs.Args()
	if !needName {
		if len(rest) > 0 {
			return "", fmt.Errorf("%w: unexpected argument %q", errUsage, rest[0])
		}
		return "", nil
	}
	if len(rest) == 0 {
		return "", fmt.Errorf("%w: the user name is missing", errUsage)
	}
	name := rest[0]
	if err := fs.Parse(rest[1:]); err != nil {
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(fs.Args()) > 0 {
		return "", fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Args()[0])
	}
	return name, httpauth.ValidName(name)
}

func userAdd(users []httpauth.User, i int, name, roleName string, uio userIO) ([]httpauth.User, error) {
	if i >= 0 {
		return nil, fmt.Errorf("user %q exists (change the password with `wotchain user passwd`)", name)
	}
	role, err := httpauth.ParseRole(roleName)
	if err != nil {
		return nil, fmt.Errorf("%w: --role: %v", errUsage, err)
	}
	hash, err := readNewPassword(name, uio)
	if err != nil {
		return nil, err
	}
	return append(users, httpauth.User{Name: name, Role: role, PasswordHash: hash}), nil
}

func userPasswd(users []httpauth.User, i int, name string, uio userIO) error {
	if i < 0 {
		return fmt.Errorf("no user %q (add one with `wotchain user add`)", name)
	}
	hash, err := readNewPassword(name, uio)
	if err != nil {
		return err
	}
	users[i].PasswordHash = hash
	return nil
}

// userToken adds an API token to a user, creating a token-only user of
// --role (for Prometheus or a script) if there is none, and shows it once.
func userToken(users []httpauth.User, i int, name, roleName string, uio userIO) ([]httpauth.User, error) {
	if i < 0 {
		role, err := httpauth.ParseRole(roleName)
		if err != nil {
			return nil, fmt.Errorf("%w: --role: %v", errUsage, err)
		}
		users = append(users, httpauth.User{Name: name, Role: role})
		i = len(users) - 1
	}
	tok, hash, err := httpauth.NewToken()
	if err != nil {
		return nil, err
	}
	users[i].TokenHashes = append(users[i].TokenHashes, hash)
	fmt.Fprintf(uio.stderr, "API token for %s (%s); it is shown only this once, keep it now:\n", name, users[i].Role)
	fmt.Fprintln(uio.stdout, tok)
	return users, nil
}

// readNewPassword reads a password from the terminal without echo (twice)
// or, from a pipe, one line; and hashes it.
func readNewPassword(name string, uio userIO) (string, error) {
	var pw string
	if f, ok := uio.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		first, err := prompt(f, uio.stderr, fmt.Sprintf("password for %s: ", name))
		if err != nil {
			return "", err
		}
		again, err := prompt(f, uio.stderr, "again: ")
		if err != nil {
			return "", err
		}
		if first != again {
			return "", errors.New("the passwords differ")
		}
		pw = first
	} else {
		line, err := bufio.NewReader(uio.stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", fmt.Errorf("read the password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if len([]rune(pw)) < minPassword {
		return "", fmt.Errorf("the password is too short (at least %d characters)", minPassword)
	}
	return httpauth.HashPassword(pw)
}

func prompt(f *os.File, w io.Writer, msg string) (string, error) {
	fmt.Fprint(w, msg)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(w)
	return string(b), err
}

// warnAuthOff reminds that users do nothing until http.auth is set.
func warnAuthOff(cfg *config.Config, w io.Writer) {
	if cfg.HTTP.Auth == nil {
		fmt.Fprintf(w, "note: %s has no http.auth section, so the HTTP interface does not ask for these users yet\n", cfg.Path)
	}
}

// describeHTTP is check's line about the HTTP interface.
func describeHTTP(cfg *config.Config, w io.Writer) error {
	desc, err := daemon.CheckHTTP(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "http: %s\n", desc)
	return nil
}
