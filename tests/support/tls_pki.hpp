// TestPki: certificates for the TLS tests, made at run time with the openssl
// command (Debian package openssl) in a fresh temporary directory, removed at
// exit. EC P-256 keys: a whole set takes a few tens of milliseconds.
//
//   const orca_test::TestPki& pki = orca_test::TestPki::shared();
//   ASSERT_TRUE(pki.ok()) << pki.error();
//   ... pki.ca_cert, pki.server_cert / server_key (CN=localhost, SAN DNS:localhost,
//       IP:127.0.0.1, serial 0x1001), pki.client_cert / client_key, pki.other_ca_cert
//       (a CA that signed nothing here), pki.server2_cert / server2_key (serial 0x2002,
//       CN=localhost-2, same SAN) ...
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace orca_test {

class TestPki {
 public:
  // One set per test program: made on first use.
  static const TestPki& shared() {
    static const TestPki pki;
    return pki;
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  std::string dir;
  std::string ca_cert, ca_key;
  std::string other_ca_cert, other_ca_key;
  std::string server_cert, server_key;    // serial 0x1001, CN=localhost
  std::string server2_cert, server2_key;  // serial 0x2002, CN=localhost-2
  std::string client_cert, client_key;    // CN=orca client, signed by ca_cert

  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;
  ~TestPki() {
    if (dir.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

 private:
  TestPki() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "orca-tls-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir = tmpl;
    {
      std::ofstream cnf(dir + "/openssl.cnf");
      cnf << "[req]\ndistinguished_name = dn\n[dn]\n"
             "[ca_ext]\nbasicConstraints = critical,CA:TRUE\n"
             "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
             "[server_ext]\nbasicConstraints = CA:FALSE\n"
             "subjectAltName = DNS:localhost,IP:127.0.0.1\nextendedKeyUsage = serverAuth\n"
             "[client_ext]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\n";
    }
    ca_cert = path("ca.pem");
    ca_key = path("ca.key");
    other_ca_cert = path("other-ca.pem");
    other_ca_key = path("other-ca.key");
    server_cert = path("server.pem");
    server_key = path("server.key");
    server2_cert = path("server2.pem");
    server2_key = path("server2.key");
    client_cert = path("client.pem");
    client_key = path("client.key");
    if (!make("ca_ext", "orca test CA", "1", ca_cert, ca_key, "", "")) return;
    if (!make("ca_ext", "another CA", "2", other_ca_cert, other_ca_key, "", "")) return;
    if (!make("server_ext", "localhost", "0x1001", server_cert, server_key, ca_cert, ca_key))
      return;
    if (!make("server_ext", "localhost-2", "0x2002", server2_cert, server2_key, ca_cert, ca_key))
      return;
    (void)make("client_ext", "orca client", "0x3003", client_cert, client_key, ca_cert, ca_key);
  }

  std::string path(const char* name) const { return dir + "/" + name; }

  // A key and a certificate for `cn` with extensions `ext`: self-signed when
  // `issuer` is empty, else signed by issuer/issuer_key.
  bool make(const std::string& ext, const std::string& cn, const std::string& serial,
            const std::string& cert, const std::string& key, const std::string& issuer,
            const std::string& issuer_key) {
    // Appended piece by piece: GCC 12 -Wrestrict false positive on "lit" + string.
    std::string cmd("openssl req -x509 -config '");
    cmd.append(path("openssl.cnf")).append("' -extensions ").append(ext);
    cmd.append(" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=");
    cmd.append(cn).append("' -set_serial ").append(serial);
    cmd.append(" -keyout '").append(key).append("' -out '").append(cert).append("'");
    if (!issuer.empty())
      cmd.append(" -CA '").append(issuer).append("' -CAkey '").append(issuer_key).append("'");
    cmd.append(" >>'").append(path("openssl.log")).append("' 2>&1");
    if (std::system(cmd.c_str()) != 0) {
      error_ = std::string("openssl failed (is it installed? scripts/deps): ").append(cmd);
      return false;
    }
    return true;
  }

  std::string error_;
};

}  // namespace orca_test
