//! Parsing of WHOIS (port 43) answers: creation, last update and expiry dates.
