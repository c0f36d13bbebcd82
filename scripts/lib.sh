# Shared by scripts/quickstart and scripts/test. Sourced, not run.

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        log "missing Debian packages: $*; install them (sudo apt-get install $*) and rerun"
        exit 1
    fi
    log "installing $*"
    if [ -z "${_apt_updated:-}" ]; then apt-get update -qq; _apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() {  # wait_for DESCRIPTION COMMAND...: retry for up to 60 s
    local what=$1; shift
    for _ in $(seq 60); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    log "$what did not come up"; exit 1
}

ensure_venv() {
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv 2>/dev/null || { apt_install python3-venv; python3 -m venv .venv; }
        .venv/bin/pip install --quiet --upgrade pip
    fi
}

quickstart_env() {  # the settings of scripts/quickstart, for it and for scripts/manage
    export DEBUG="${DEBUG:-true}"
    # Set either variable to an empty string to leave that provider out.
    export RM_PROVIDER_POSTGRESQL_URL="${RM_PROVIDER_POSTGRESQL_URL-postgresql://postgres@127.0.0.1:5432/postgres}"
    export RM_PROVIDER_MYSQL_URL="${RM_PROVIDER_MYSQL_URL-mysql://root@127.0.0.1:3306}"
}

ensure_postgresql() {
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    log "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
    # A fresh install asks for a password on TCP: give postgres the one the tests use.
    runuser -u postgres -- psql -q -c "ALTER ROLE postgres PASSWORD 'postgres'" >/dev/null
}

ensure_mariadb() {
    if mysqladmin --protocol=tcp -h 127.0.0.1 -u root ping >/dev/null 2>&1; then return; fi
    command -v mariadbd >/dev/null || apt_install mariadb-server
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for MariaDB mariadb-admin ping
    # root over TCP from 127.0.0.1 with an empty password, as on the development machines.
    mariadb -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
                GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
}

ensure_redis() {
    if redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then return; fi
    command -v redis-server >/dev/null || apt_install redis-server
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for Redis redis-cli -h 127.0.0.1 ping
}

ensure_chromium() {  # the browser tests/browser drives; Playwright cannot download its own here
    if [ -x /usr/bin/chromium ]; then return; fi
    apt_install chromium
}
