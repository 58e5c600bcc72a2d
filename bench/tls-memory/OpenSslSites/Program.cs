// A Sockeye TLS echo server in this process with OpenSSL allocation tracking (DOTNET_OPENSSL_MEMORY_DEBUG=1
// at start): once N connections are idle, the live OpenSSL bytes by allocation site. The tracking API is
// internal to .NET (Interop.Crypto in System.Security.Cryptography), hence the reflection. See run-openssl-sites.sh.
using System.Net;
using System.Reflection;
using System.Runtime.InteropServices;
using Sockeye;
using Sockeye.Handlers;
using Sockeye.Security;

var n = int.Parse(args[0]);
var certs = Environment.GetEnvironmentVariable("CERT") ?? "/tmp/tlsmem";
var crypto = typeof(System.Security.Cryptography.X509Certificates.X509Certificate2).Assembly.GetType("Interop+Crypto")!;
const BindingFlags S = BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public;
long Used() => (long)crypto.GetMethod("GetOpenSslAllocatedMemory", S)!.Invoke(null, null)!;
long Count() => (long)crypto.GetMethod("GetOpenSslAllocationCount", S)!.Invoke(null, null)!;
var options = new TcpServerOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, 0), MaxConnections = 30000,
    Tls = new TlsOptions { Certificate = TlsCertificate.FromPemFiles(Path.Combine(certs, "cert.pem"), Path.Combine(certs, "key.pem")), ReloadOnFileChange = false } };
await using var server = new TcpServer(options);
await server.StartAsync(EchoHandler.Instance);
Console.WriteLine($"listening on {server.LocalEndPoint}");
Console.Out.Flush();
// warm-up connection from the driver comes first; wait for "go"
Console.ReadLine();
GC.Collect();
long u0 = Used(), c0 = Count();
crypto.GetMethod("EnableMemoryTracking", S, Type.EmptyTypes)!.Invoke(null, null);
while (server.ActiveConnections < n) await Task.Delay(200);
await Task.Delay(8000);
GC.Collect(); GC.WaitForPendingFinalizers();
long u1 = Used(), c1 = Count();
Console.WriteLine($"OpenSSL live: {u0} B / {c0} allocations before; {u1} B / {c1} after; per connection {(u1 - u0) / (double)n:F0} B in {(c1 - c0) / (double)n:F1} allocations");
var sites = new Dictionary<string, (long Bytes, long Count)>();
var each = crypto.GetMethods(S).First(m => m.Name == "ForEachTrackedAllocation" && m.GetParameters().Length == 1);
each.Invoke(null, [new Action<IntPtr, ulong, IntPtr, int>((ptr, size, file, line) =>
{
    var key = $"{Marshal.PtrToStringUTF8(file)}:{line}";
    sites.TryGetValue(key, out var v);
    sites[key] = (v.Bytes + (long)size, v.Count + 1);
})]);
foreach (var (site, (bytes, count)) in sites.OrderByDescending(s => s.Value.Bytes).Take(25))
    Console.WriteLine($"{bytes / (double)n,9:F0} B/conn {count / (double)n,6:F2} allocs/conn  {site}");
Console.WriteLine("done");
Console.ReadLine();
