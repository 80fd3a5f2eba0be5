package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The reference proxies do the job syncgate does on its plain listener
// (a plain HTTP listener on loopback, TLS to the upstream verified against
// the upstream's private CA with the right name, upstream connections
// kept alive, one log line per request in a file on disk) and, on a second
// listener, the TLS-terminating configuration that stands against
// syncgate's CONNECT interception: the client speaks HTTPS to the proxy
// (a server certificate from a test CA the client trusts) and the proxy
// speaks verified TLS to the upstream.

// refProxy is a running reference proxy.
type refProxy struct {
	plain, tls string // listener addresses
	pid        int
}

// pids is the proxy's process tree (nginx's master and its workers).
func (p *refProxy) pids() []int { return procTree(p.pid) }

// refProxyFiles are the bench's certificate files a reference proxy uses.
type refProxyFiles struct {
	upstreamCA        string // trusted for the upstream
	upstreamAddr      string
	termCert, termKey string // the TLS-terminating listener's certificate
}

// Both proxies may keep a client connection for any number of requests
// (nginx closes one after 1000 by default, which would add handshakes to
// its TLS-terminating figures that the other systems do not pay).
// reuseport: without it, nginx's two workers share one listening socket
// and the bench's few long-lived connections all land on one worker, so
// nginx would use one core where syncgate and haproxy use two.
const nginxConf = `daemon off;
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log %[1]s/nginx-access.log;
  client_body_temp_path %[1]s/ngx-body;
  proxy_temp_path %[1]s/ngx-proxy;
  fastcgi_temp_path %[1]s/ngx-fcgi;
  uwsgi_temp_path %[1]s/ngx-uwsgi;
  scgi_temp_path %[1]s/ngx-scgi;
  keepalive_requests 1000000;
  upstream graph { server %[2]s; keepalive 64; keepalive_requests 1000000; }
  server {
    listen %[3]s reuseport;
    listen %[5]s ssl reuseport;
    ssl_certificate %[6]s;
    ssl_certificate_key %[7]s;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass https://graph;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host graph.microsoft.com;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate %[4]s;
      proxy_ssl_name graph.microsoft.com;
      proxy_ssl_server_name on;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_session_reuse on;
    }
  }
}
`

// startNginx runs nginx in front of the bench upstream; it stops when ctx
// ends. It returns an error naming the install command when nginx is not
// on PATH.
func startNginx(ctx context.Context, dir string, f refProxyFiles, children *sync.WaitGroup) (*refProxy, error) {
	exe, err := lookPathSbin("nginx")
	if err != nil {
		return nil, fmt.Errorf("not installed (apt-get install -y nginx)")
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	text := fmt.Sprintf(nginxConf, dir, f.upstreamAddr, ports[0], f.upstreamCA, ports[1], f.termCert, f.termKey)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "nginx-error.log"))
	// SIGQUIT: graceful stop, the workers finish and exit with the master.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	p, err := startRefProxy(ctx, cmd, nil, ports, children)
	if err != nil {
		return nil, fmt.Errorf("nginx: %w (see %s)", err, dir)
	}
	return p, nil
}

// haproxy logs to syslog by default. Here `log stdout format raw` writes
// one line per request (option httplog) to haproxy's stdout, which is a
// file on disk opened by the bench and handed to haproxy as its fd 1: the
// lines go straight from haproxy to the file, through no process of ours.
// nbthread 2 matches nginx's two workers and syncgate's GOMAXPROCS here.
const haproxyConf = `global
  nbthread 2
  maxconn 4096
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
frontend plain
  bind %[1]s
  default_backend graph
frontend terminating
  bind %[2]s ssl crt %[3]s ssl-min-ver TLSv1.2
  default_backend graph
backend graph
  http-reuse always
  http-request set-header Host graph.microsoft.com
  server s1 %[4]s ssl verify required ca-file %[5]s sni str(graph.microsoft.com) verifyhost graph.microsoft.com ssl-min-ver TLSv1.2
`

// startHAProxy runs haproxy (foreground, one process with two threads) in
// front of the bench upstream; it stops when ctx ends.
func startHAProxy(ctx context.Context, dir string, f refProxyFiles, children *sync.WaitGroup) (*refProxy, error) {
	exe, err := lookPathSbin("haproxy")
	if err != nil {
		return nil, fmt.Errorf("not installed (apt-get install -y haproxy)")
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// haproxy wants the certificate and its key in one file.
	cert, err := os.ReadFile(f.termCert)
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(f.termKey)
	if err != nil {
		return nil, err
	}
	crt := filepath.Join(dir, "terminating.pem")
	if err := os.WriteFile(crt, append(cert, key...), 0o600); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "haproxy.cfg")
	text := fmt.Sprintf(haproxyConf, ports[0], ports[1], crt, f.upstreamAddr, f.upstreamCA)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "haproxy-access.log"))
	if err != nil {
		return nil, err
	}
	// -db: stay in the foreground, no master process.
	cmd := exec.CommandContext(ctx, exe, "-db", "-f", conf)
	cmd.Stdout = logf
	stderr, err := os.Create(filepath.Join(dir, "haproxy-error.log"))
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd.Stderr = stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	p, err := startRefProxy(ctx, cmd, []*os.File{logf, stderr}, ports, children)
	if err != nil {
		return nil, fmt.Errorf("haproxy: %w (see %s)", err, dir)
	}
	return p, nil
}

// startRefProxy starts cmd, closes files once it has exited, and waits
// until both listeners accept.
func startRefProxy(ctx context.Context, cmd *exec.Cmd, files []*os.File, ports []string, children *sync.WaitGroup) (*refProxy, error) {
	closeFiles := func() {
		for _, f := range files {
			f.Close()
		}
	}
	if err := cmd.Start(); err != nil {
		closeFiles()
		return nil, err
	}
	exited := make(chan struct{})
	children.Add(1)
	go func() {
		defer children.Done()
		cmd.Wait()
		closeFiles()
		close(exited)
	}()
	for _, addr := range ports {
		if err := waitListening(ctx, addr, exited); err != nil {
			return nil, err
		}
	}
	return &refProxy{plain: ports[0], tls: ports[1], pid: cmd.Process.Pid}, nil
}

// waitListening waits until addr accepts a connection, the process exits
// or 15 s pass.
func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited before listening")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after 15s", addr)
		}
	}
}

// lookPathSbin finds a daemon also when /usr/sbin is not on PATH (it is
// not for ordinary users on Debian).
func lookPathSbin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// procTree is pid and all its descendants, from the parent pids in
// /proc/PID/stat.
func procTree(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStatFields(p); len(f) > 1 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				parent[p] = pp
			}
		}
	}
	out := []int{pid}
	for p := range parent {
		for a, hops := parent[p], 0; a > 1 && hops < 64; a, hops = parent[a], hops+1 {
			if a == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// procStatFields are the fields of /proc/PID/stat after the command name
// (which may contain spaces): state is [0], ppid [1], utime [11], stime [12].
func procStatFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	return strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
}

// procCPU sums user and system CPU time of the processes (all their
// threads), in clock ticks of USER_HZ = 100 on Linux.
func procCPU(pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		if f := procStatFields(pid); len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
