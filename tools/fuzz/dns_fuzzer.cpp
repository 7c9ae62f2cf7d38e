// libFuzzer target over the DNS answers the resolver reads from the network: any bytes
// through read_question, read_records and copy_name at each offset a record names.
// Never a crash or a read outside the input.
#include "runtime/upstream/dns_message.hpp"

#include <cstdint>
#include <string>

using namespace ngxlite::runtime;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string error;
    if (size > 12) (void)dns::copy_name(data, size, 12, error);
    const auto q = dns::read_question(data, size, error);
    if (!q || dns::rcode_dropped(*q)) return 0;
    const dns::Records records = dns::read_records(data, size, *q);
    if (records.error.empty() && records.cname) (void)dns::copy_name(data, size, *records.cname, error);
    return 0;
}
