package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Writer appends to dir/name. A write that would take the file past Size
// bytes first renames name to name.1 (name.1 to name.2 and so on, dropping
// name.Num), then starts a new file, as Python's RotatingFileHandler with
// maxBytes=Size and backupCount=Num. A line is never split across files.
type Writer struct {
	mu      sync.Mutex
	path    string
	size    int64
	num     int
	f       *os.File
	written int64
}

// Open creates dir if needed and opens dir/name for appending. size must be
// positive; num is the number of rotated files kept (0: the file is
// truncated at rotation instead).
func Open(dir, name string, size int64, num int) (*Writer, error) {
	if size <= 0 {
		return nil, fmt.Errorf("log.file_size must be positive, got %d", size)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("log.dir: %w", err)
	}
	w := &Writer{path: filepath.Join(dir, name), size: size, num: num}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("log.dir: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log.dir: %w", err)
	}
	w.f, w.written = f, st.Size()
	return nil
}

// Write writes p, rotating first when p would not fit.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return 0, os.ErrClosed
	}
	if w.written > 0 && w.written+int64(len(p)) > w.size {
		if err := w.rotate(); err != nil {
			// Keep logging into the old file rather than lose lines.
			fmt.Fprintf(os.Stderr, "conclave: log rotation of %s failed: %v\n", w.path, err)
		}
	}
	n, err := w.f.Write(p)
	w.written += int64(n)
	return n, err
}

func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	if w.num == 0 {
		if err := os.Truncate(w.path, 0); err != nil {
			return w.reopen(err)
		}
		return w.open()
	}
	for i := w.num - 1; i >= 1; i-- {
		from := fmt.Sprintf("%s.%d", w.path, i)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, fmt.Sprintf("%s.%d", w.path, i+1)); err != nil {
				return w.reopen(err)
			}
		}
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return w.reopen(err)
	}
	return w.open()
}

// reopen keeps the writer usable after a failed rotation.
func (w *Writer) reopen(cause error) error {
	if err := w.open(); err != nil {
		return fmt.Errorf("%w; reopening: %w", cause, err)
	}
	return cause
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
