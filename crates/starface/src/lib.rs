//! STARFACE PBX access: the XML-RPC codec and authentication formulas of the UCI and REST APIs.

pub mod auth;
pub mod rest;
pub mod uci;
pub mod xmlrpc;
