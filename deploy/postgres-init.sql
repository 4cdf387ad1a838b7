-- The compose PostgreSQL creates `ledger`; pricing and payments have databases of their own.
CREATE DATABASE pricing OWNER mailbill;
CREATE DATABASE payments OWNER mailbill;
