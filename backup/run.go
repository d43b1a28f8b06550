package backup

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Types are pgBackRest's backup types.
var Types = []string{"full", "diff", "incr"}

// Peer is a second PostgreSQL pgBackRest needs for a backup from a
// standby: the primary, which starts and stops the backup.
type Peer struct {
	Host      string // "" when it runs on this host; else reached through pgBackRest's remote protocol (pg2-host)
	DataDir   string
	Port      int
	SocketDir string
}

// BackupOptions says what to back up and from where.
type BackupOptions struct {
	Type    string // full, diff or incr
	Primary *Peer  // set: back up from this node, a standby of Primary (backup-standby)
}

var labelRE = regexp.MustCompile(`new backup label\s*=\s*(\S+)`)

// Backup runs pgbackrest backup, calling progress with each line it
// prints (info level: one line per step), and returns the new backup's
// label. Unlike the other verbs it streams the program's output, so it
// runs the program itself (os/exec) rather than through the Runner.
func (p PgBackRest) Backup(ctx context.Context, o BackupOptions, progress func(string)) (string, error) {
	args := []string{"--stanza=" + p.Stanza, "--type=" + o.Type, "--log-level-console=info"}
	if pr := o.Primary; pr != nil {
		args = append(args, "--backup-standby", "--pg2-path="+pr.DataDir, "--pg2-port="+strconv.Itoa(pr.Port))
		if pr.SocketDir != "" {
			args = append(args, "--pg2-socket-path="+pr.SocketDir)
		}
		if pr.Host != "" {
			args = append(args, "--pg2-host="+pr.Host)
		}
	}
	args = append(args, "backup")
	cmdName := p.Command
	if cmdName == "" {
		cmdName = "pgbackrest"
	}
	cmd := exec.CommandContext(ctx, cmdName, args...)
	cmd.Env = append(os.Environ(), p.Node.Env()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("pgbackrest backup (stanza %s): %w", p.Stanza, err)
	}
	done := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); done <- err }()
	var label string
	var tail []string
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := labelRE.FindStringSubmatch(line); m != nil {
			label = m[1]
		}
		if strings.Contains(line, "ERROR:") {
			tail = append(tail, line)
		}
		if progress != nil && line != "" {
			progress(line)
		}
	}
	io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		return "", fmt.Errorf("pgbackrest backup (stanza %s): %w: %s", p.Stanza, err, strings.Join(tail, "; "))
	}
	if label == "" {
		return "", fmt.Errorf("pgbackrest backup (stanza %s): finished without printing the new backup's label", p.Stanza)
	}
	return label, nil
}
