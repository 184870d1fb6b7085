#!/usr/bin/env bash
# Installs (Debian packages) and starts the brokers shoal is measured against, on loopback only,
# each with a fresh data directory under $PEERS_DIR:
#   RabbitMQ 3.10 with the STOMP plugin  127.0.0.1:61613   (login guest/guest, vhost /)
#   ActiveMQ 5.17 (KahaDB)               127.0.0.1:61614   (STOMP, anonymous)
#                                        127.0.0.1:61615   (stomp+ssl, client certificate
#                                        required; CA and a client certificate and key in
#                                        $PEERS_DIR/activemq/tls: ca.pem client.pem client.key)
# Usage: benches/peers.sh start|stop
set -euo pipefail

PEERS_DIR=${PEERS_DIR:-/tmp/shoal-peers}
RABBIT_PORT=61613
ACTIVEMQ_PORT=61614
ACTIVEMQ_TLS_PORT=61615

install() {
  if ! command -v java >/dev/null || [ ! -f /usr/share/activemq/bin/activemq.jar ] || [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends rabbitmq-server activemq
  fi
}

wait_port() {
  local port=$1 what=$2
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$what is up on 127.0.0.1:$port"
      return 0
    fi
    sleep 1
  done
  echo "$what did not open 127.0.0.1:$port" >&2
  return 1
}

start_rabbitmq() {
  local d=$PEERS_DIR/rabbitmq
  rm -rf "$d" && mkdir -p "$d"
  cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:5673
stomp.listeners.tcp.1 = 127.0.0.1:$RABBIT_PORT
loopback_users = none
log.file.level = warning
EOF
  echo "[rabbitmq_stomp]." >"$d/enabled_plugins"
  # Its own node name, cookie home and data, so the Debian service's state is never touched.
  (
    export HOME=$d RABBITMQ_NODENAME=shoalbench@localhost RABBITMQ_BASE=$d \
      RABBITMQ_MNESIA_BASE=$d/mnesia RABBITMQ_LOG_BASE=$d/log \
      RABBITMQ_CONFIG_FILE=$d/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins \
      RABBITMQ_PID_FILE=$d/pid ERL_EPMD_ADDRESS=127.0.0.1
    cd "$d" # Erlang writes erl_crash.dump (and Mnesia cores) into its working directory
    nohup /usr/lib/rabbitmq/bin/rabbitmq-server >"$d/stdout.log" 2>&1 &
  )
  wait_port $RABBIT_PORT RabbitMQ
  # MCollective's rabbitmq connector needs its exchanges declared (as its docs do with
  # rabbitmqadmin): <collective>_broadcast (topic) and <collective>_directed (direct).
  local decl=""
  for c in mcollective qacollective prodcollective; do
    decl+="rabbit_exchange:declare(rabbit_misc:r(<<\"/\">>, exchange, <<\"${c}_broadcast\">>), topic, true, false, false, [], <<\"guest\">>), "
    decl+="rabbit_exchange:declare(rabbit_misc:r(<<\"/\">>, exchange, <<\"${c}_directed\">>), direct, true, false, false, [], <<\"guest\">>), "
  done
  HOME=$d ERL_EPMD_ADDRESS=127.0.0.1 /usr/lib/rabbitmq/bin/rabbitmqctl -n shoalbench@localhost \
    eval "${decl}ok." >/dev/null
}

# A CA, a server certificate for 127.0.0.1 in a PKCS#12 keystore, the CA in a truststore, and
# a client certificate signed by the CA (openssl, keytool).
make_activemq_tls() {
  local t=$1 pw=shoalpeer
  mkdir -p "$t" && (
    cd "$t"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 -subj "/CN=shoal peers CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 -extfile san.ext 2>/dev/null
    openssl pkcs12 -export -in server.pem -inkey server.key -name broker -out broker.p12 -passout pass:$pw
    keytool -importcert -noprompt -alias ca -file ca.pem -keystore trust.p12 -storetype PKCS12 -storepass $pw >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=shoal-client" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext # an X.509 v3 certificate (rustls wants v3)
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 30 -extfile client.ext 2>/dev/null
    chmod 600 ./*.key
  )
}

start_activemq() {
  local d=$PEERS_DIR/activemq
  rm -rf "$d" && mkdir -p "$d/conf" "$d/data" "$d/tmp"
  make_activemq_tls "$d/tls"
  cp /etc/activemq/instances-available/main/log4j2.properties "$d/conf/" 2>/dev/null || true
  cat >"$d/conf/activemq.xml" <<EOF
<beans xmlns="http://www.springframework.org/schema/beans"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
         http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" brokerName="shoalbench"
          dataDirectory="$d/data" schedulePeriodForDestinationPurge="0">
    <persistenceAdapter><kahaDB directory="$d/data/kahadb"/></persistenceAdapter>
    <sslContext>
      <sslContext keyStore="file:$d/tls/broker.p12" keyStoreType="PKCS12" keyStorePassword="shoalpeer"
                  trustStore="file:$d/tls/trust.p12" trustStoreType="PKCS12" trustStorePassword="shoalpeer"/>
    </sslContext>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp+nio://127.0.0.1:$ACTIVEMQ_PORT?transport.closeAsync=false"/>
      <transportConnector name="stomp+ssl" uri="stomp+ssl://127.0.0.1:$ACTIVEMQ_TLS_PORT?needClientAuth=true"/>
    </transportConnectors>
  </broker>
</beans>
EOF
  (
    cd "$d"
    nohup java -Xms1G -Xmx1G -Dactivemq.home=/usr/share/activemq -Dactivemq.base="$d" \
      -Dactivemq.conf="$d/conf" -Dactivemq.data="$d/data" -Djava.io.tmpdir="$d/tmp" \
      -Dlog4j2.configurationFile="$d/conf/log4j2.properties" \
      -jar /usr/share/activemq/bin/activemq.jar start "xbean:file:$d/conf/activemq.xml" \
      >"$d/stdout.log" 2>&1 &
    echo $! >"$d/pid"
  )
  wait_port $ACTIVEMQ_PORT ActiveMQ
  wait_port $ACTIVEMQ_TLS_PORT "ActiveMQ (stomp+ssl)"
}

stop() {
  # Only what start() started, by the PIDs it recorded (RabbitMQ writes its own pid file).
  local pidfile
  for pidfile in "$PEERS_DIR/activemq/pid" "$PEERS_DIR/rabbitmq/pid"; do
    if [ -s "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
  for port in $RABBIT_PORT $ACTIVEMQ_PORT $ACTIVEMQ_TLS_PORT; do
    for _ in $(seq 1 30); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
      sleep 1
    done
  done
}

case "${1:-start}" in
  start) install; stop; start_rabbitmq; start_activemq ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
