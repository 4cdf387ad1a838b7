-- The compose PostgreSQL creates `ledger`; the pricing service has a database of its own.
CREATE DATABASE pricing OWNER mailbill;
