//! A real DNS server on loopback (hickory-server, in the test's process): authoritative for
//! every name, with TXT and A records a test adds and removes while the platform under test
//! asks it over UDP/TCP (`TMAHOST_DNS_SERVER`).

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::rdata::{SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};

type Zone = InMemoryZoneHandler<TokioRuntimeProvider>;

/// The server; it stops when dropped.
pub struct DnsServer {
    pub addr: SocketAddr,
    zone: Arc<Zone>,
    serial: AtomicU32,
    _server: Server<Catalog>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer").field("addr", &self.addr).finish()
    }
}

impl DnsServer {
    /// Binds UDP and TCP on one free loopback port and serves the root zone (so any test
    /// domain can be given records).
    pub async fn start() -> Self {
        let root = Name::root();
        let mut zone = Zone::empty(root.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(
            Name::from_str("ns.test.").expect("name"),
            Name::from_str("hostmaster.test.").expect("name"),
            1,
            3600,
            600,
            86_400,
            0,
        );
        assert!(zone.upsert_mut(Record::from_rdata(root.clone(), 0, RData::SOA(soa)), 1), "SOA");
        let zone = Arc::new(zone);
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::from(root), vec![zone.clone() as Arc<dyn ZoneHandler>]);
        let mut server = Server::new(catalog);
        // UDP first, then TCP on the same port (retried if another process took it meanwhile).
        let addr = loop {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
            let addr = udp.local_addr().expect("addr");
            if let Ok(tcp) = tokio::net::TcpListener::bind(addr).await {
                server.register_socket(udp);
                server.register_listener(tcp, Duration::from_secs(5), 64);
                break addr;
            }
        };
        Self { addr, zone, serial: AtomicU32::new(2), _server: server }
    }

    /// Replaces the TXT records of `name` with one holding `value`.
    pub async fn set_txt(&self, name: &str, value: &str) {
        self.remove_txt(name).await;
        let name = fqdn(name);
        let record = Record::from_rdata(name, 0, RData::TXT(TXT::new(vec![value.to_owned()])));
        assert!(self.zone.upsert(record, self.serial.fetch_add(1, Ordering::Relaxed)).await, "TXT upsert");
    }

    /// Replaces the A records of `name` with one for `ip`.
    pub async fn set_a(&self, name: &str, ip: std::net::Ipv4Addr) {
        let key = RrKey::new(LowerName::from(fqdn(name)), RecordType::A);
        self.zone.records_mut().await.remove(&key);
        let record = Record::from_rdata(fqdn(name), 0, RData::A(ip.into()));
        assert!(self.zone.upsert(record, self.serial.fetch_add(1, Ordering::Relaxed)).await, "A upsert");
    }

    /// Removes every TXT record of `name` (it then answers NXDOMAIN).
    pub async fn remove_txt(&self, name: &str) {
        let key = RrKey::new(LowerName::from(fqdn(name)), RecordType::TXT);
        self.zone.records_mut().await.remove(&key);
    }
}

fn fqdn(name: &str) -> Name {
    Name::from_str(&format!("{}.", name.trim_end_matches('.'))).expect("DNS name")
}
