#![no_std]
// This file exists so that tools such as rust-analyzer can see the crate;
// the programs are in main.rs.
