#!/usr/bin/env python3
"""unit_exec.py - start a systemd service unit's commands by hand, the way
systemd would, on a machine where systemd is not PID 1.

    unit_exec.py [--socket FILE.socket] [--journal FILE] UNIT.service

Reads the [Service] section of UNIT.service and does what systemd does
before ExecStart: a clean environment (PATH, then HOME, USER, LOGNAME and
SHELL of User=), Environment= then EnvironmentFile= (which wins), the
working directory "/", UMask=, NoNewPrivileges=, the groups of User=
(initgroups) with Group=, standard input, output and error.  Then it runs
every ExecStartPre= and, for Type=oneshot, every ExecStart= in turn
(exit status: the first failure's, else 0); for any other Type= it execs
ExecStart= in its own process, so its pid is the service's main pid.

StandardInput=socket: the socket of FILE.socket (ListenStream= a TCP
address, a port or a unix path, with Backlog=, SocketUser=, SocketGroup=,
SocketMode=) is made first, as root, and becomes fd 0 and, as systemd
passes it, fd 3 with LISTEN_FDS=1.  StandardOutput= and StandardError=
"journal" (systemd's default) append to --journal FILE (default
/dev/null); "inherit" follows what systemd's defaults say (standard
output after standard input, standard error after standard output).

Only what these units need is understood: ExecStart= and friends may use
$VAR (split into words) and ${VAR}, not %-specifiers.  Sandboxing
settings (ProtectSystem= and the like) are not applied: check those with
systemd-analyze verify.  Exits 2 on a unit it cannot read.
"""
import ctypes
import os
import pwd
import grp
import re
import socket
import stat
import sys

PR_SET_NO_NEW_PRIVS = 38
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def die(msg):
    print(f"unit_exec: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_unit(path):
    """Sections of a unit file: {section: [(key, value), ...]}."""
    sections, cur, pending = {}, None, ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = pending + raw.rstrip("\n")
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            s = line.strip()
            if not s or s[0] in "#;":
                continue
            if s.startswith("[") and s.endswith("]"):
                cur = s[1:-1]
                sections.setdefault(cur, [])
                continue
            if cur is None or "=" not in s:
                die(f"{path}: cannot read line: {s}")
            k, v = s.split("=", 1)
            sections[cur].append((k.strip(), v.strip()))
    return sections


def values(entries, key):
    """Every value of KEY, an empty assignment clearing the list."""
    out = []
    for k, v in entries:
        if k == key:
            out = [] if v == "" else out + [v]
    return out


def last(entries, key, default=None):
    v = values(entries, key)
    return v[-1] if v else default


def unquote(v):
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        body = v[1:-1]
        if v[0] == '"':
            body = re.sub(r'\\(.)', r'\1', body)
        return body
    return v


def read_env_file(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        text = f.read().replace("\\\n", "")
    for line in text.splitlines():
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        if "=" not in s:
            die(f"{path}: not NAME=value: {s}")
        k, v = s.split("=", 1)
        env[k.strip()] = unquote(v.strip())
    return env


def split_words(cmdline):
    """systemd's splitting: whitespace, "..." and '...' quotes, backslash."""
    words, cur, i, quote, have = [], "", 0, None, False
    while i < len(cmdline):
        c = cmdline[i]
        if quote:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"' and i + 1 < len(cmdline):
                i += 1
                cur += cmdline[i]
            else:
                cur += c
        elif c in "\"'":
            quote, have = c, True
        elif c == "\\" and i + 1 < len(cmdline):
            i += 1
            cur += cmdline[i]
            have = True
        elif c.isspace():
            if have or cur:
                words.append(cur)
            cur, have = "", False
        else:
            cur += c
        i += 1
    if quote:
        die(f"unbalanced quote in: {cmdline}")
    if have or cur:
        words.append(cur)
    return words


def expand(cmdline, env):
    """Prefixes stripped, words split, $VAR and ${VAR} expanded."""
    m = re.match(r"^([-@:+!]*)(.*)$", cmdline)
    prefix, rest = m.group(1), m.group(2)
    if "%" in rest.replace("%%", ""):
        die(f"%-specifiers are not supported: {cmdline}")
    out = []
    for w in split_words(rest.replace("%%", "%")):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", w)
        if whole:
            out += env.get(whole.group(1), "").split()
            continue
        out.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                          lambda mm: env.get(mm.group(1), ""), w))
    if not out:
        die(f"empty command: {cmdline}")
    return "-" in prefix, out


def make_socket(path):
    sock_sec = parse_unit(path).get("Socket", [])
    listen = values(sock_sec, "ListenStream")
    if len(listen) != 1:
        die(f"{path}: exactly one ListenStream= expected, got {listen}")
    spec = listen[0]
    backlog = int(last(sock_sec, "Backlog", "4096"))
    if spec.startswith("/"):
        os.makedirs(os.path.dirname(spec), mode=int(
            last(sock_sec, "DirectoryMode", "0755"), 8), exist_ok=True)
        try:
            if stat.S_ISSOCK(os.lstat(spec).st_mode):
                os.unlink(spec)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(spec)
        user, group = last(sock_sec, "SocketUser"), last(sock_sec, "SocketGroup")
        uid = pwd.getpwnam(user).pw_uid if user else -1
        gid = grp.getgrnam(group).gr_gid if group else -1
        os.chown(spec, uid, gid)
        os.chmod(spec, int(last(sock_sec, "SocketMode", "0666"), 8))
    else:
        m = re.fullmatch(r"(?:\[(.+)\]|(.+)):(\d+)", spec)
        if m:
            host, port = m.group(1) or m.group(2), int(m.group(3))
        elif spec.isdigit():
            host, port = "::", int(spec)
        else:
            die(f"{path}: cannot read ListenStream={spec}")
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
    s.listen(backlog)
    return s


def main():
    args = sys.argv[1:]
    sock_file, journal = None, "/dev/null"
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--socket" and args:
            sock_file = args.pop(0)
        elif opt == "--journal" and args:
            journal = args.pop(0)
        else:
            die(f"unknown option {opt}")
    if len(args) != 1:
        die("usage: unit_exec.py [--socket FILE] [--journal FILE] UNIT")
    svc = parse_unit(args[0]).get("Service")
    if svc is None:
        die(f"{args[0]}: no [Service] section")

    user = last(svc, "User")
    pw = pwd.getpwnam(user) if user else pwd.getpwuid(os.getuid())
    group = last(svc, "Group")
    gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid

    env = {"PATH": SYSTEM_PATH}
    if user:
        env.update(HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name,
                   SHELL=pw.pw_shell)
    for line in values(svc, "Environment"):
        for a in split_words(line):
            k, _, v = a.partition("=")
            env[k] = v
    for f in values(svc, "EnvironmentFile"):
        optional = f.startswith("-")
        f = f.lstrip("-")
        if not os.path.exists(f) and optional:
            continue
        env.update(read_env_file(f))

    stdin_kind = last(svc, "StandardInput", "null")
    stdout_kind = last(svc, "StandardOutput",
                       "inherit" if stdin_kind == "socket" else "journal")
    stderr_kind = last(svc, "StandardError", "inherit")
    lsock = None
    if stdin_kind == "socket":
        if sock_file is None:
            die("StandardInput=socket needs --socket FILE.socket")
        lsock = make_socket(sock_file)
    elif stdin_kind != "null":
        die(f"StandardInput={stdin_kind} is not supported")

    def stream(kind, after):
        if kind == "inherit":
            return after
        if kind == "journal":
            return os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        if kind == "null":
            return os.open("/dev/null", os.O_WRONLY)
        die(f"output {kind} is not supported")

    fd_in = lsock.fileno() if lsock else os.open("/dev/null", os.O_RDONLY)
    fd_out = stream(stdout_kind, fd_in)
    fd_err = stream(stderr_kind, fd_out)
    # Journal files are made by "systemd", as root; fds above 2 made here
    # are closed by the dup2 and close below.
    saved = [os.dup(fd) for fd in (fd_in, fd_out, fd_err)]
    for target, fd in enumerate(saved):
        os.dup2(fd, target)   # dup2 clears close-on-exec
    for fd in saved:
        os.close(fd)
    if lsock is not None:
        os.dup2(0, 3)
        env.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()),
                   LISTEN_FDNAMES=os.path.basename(sock_file))
        lsock.detach()
    os.closerange(4 if lsock is not None else 3, 1024)

    os.chdir(last(svc, "WorkingDirectory", "/"))
    umask = last(svc, "UMask")
    os.umask(int(umask, 8) if umask else 0o022)
    if os.getuid() == 0:
        os.initgroups(pw.pw_name, gid)
        os.setgid(gid)
        os.setuid(pw.pw_uid)
    elif user and pw.pw_uid != os.getuid():
        die(f"must be root to run as {user}")
    if last(svc, "NoNewPrivileges", "no") in ("yes", "true", "1", "on"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            die("prctl(PR_SET_NO_NEW_PRIVS) failed")

    def run(cmdline):
        ignore, argv = expand(cmdline, env)
        pid = os.fork()
        if pid == 0:
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        if rc != 0 and not ignore:
            print(f"unit_exec: {argv[0]} exited with {rc}", file=sys.stderr)
            sys.exit(rc if rc > 0 else 128 - rc)

    for cmd in values(svc, "ExecStartPre"):
        run(cmd)
    starts = values(svc, "ExecStart")
    if not starts:
        die("no ExecStart=")
    if last(svc, "Type", "simple") == "oneshot":
        for cmd in starts:
            run(cmd)
        sys.exit(0)
    if len(starts) != 1:
        die("more than one ExecStart= outside Type=oneshot")
    _, argv = expand(starts[0], env)
    os.execve(argv[0], argv, env)


if __name__ == "__main__":
    main()
