//! Enrichment of findings with registration data: when the registrable domain was created and
//! last changed, from RDAP (the source of truth for gTLDs since 2025) or WHOIS (port 43; many
//! ccTLDs have nothing else).

pub mod lookups;
pub mod rdap;
pub mod resolver;
pub mod stage;
pub mod verdict;
pub mod whois_parse;
