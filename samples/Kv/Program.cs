// An in-memory Redis-protocol server on Sockeye (issue 18): RESP2 and inline commands, pipelining,
// strings, keys with expiry, lists, hashes, sets, sorted sets and pub/sub. See README.md.
//
//   dotnet run --project samples/Kv -c Release -- --port 6380      then      redis-cli -p 6380
using System.Net;
using System.Runtime.InteropServices;
using Sockeye;
using Sockeye.Samples.Kv;

KvOptions options;
try
{
    options = KvOptions.Parse(args);
}
catch (ArgumentException ex)
{
    await Console.Error.WriteLineAsync($"kv: {ex.Message}");
    return 2;
}

using var kv = new KvServer(options.Limits, options.MaxClients);
await using var server = new TcpServer(new TcpServerOptions
{
    EndPoint = new IPEndPoint(options.Host, options.Port),
    MaxConnections = options.MaxClients,

    // A request must be seen whole: room for the largest bulk string plus its headers.
    MaxReadBufferSize = options.Limits.MaxBulk + (1024 * 1024),

    // Commands run in microseconds and never block, so the poll thread may run them.
    InlineCompletions = true,
    StartHandlersInline = true,

    // One poll thread: every command runs on it, so the keyspace's one lock is never handed between
    // cores (on two cores at once it cost 2-4x per command; BENCHMARKS.md, "Kv's keyspace").
    PollThreads = 1,
});

var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });

try
{
    await server.StartAsync(new KvHandler(kv));
}
catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
{
    await Console.Error.WriteLineAsync($"kv: cannot listen on {options.Host}:{options.Port}: {ex.Message}");
    return 1;
}

kv.Port = server.LocalEndPoint!.Port;
KvAdmin? admin = null;
if (options.MetricsPort is { } metricsPort)
{
    admin = await KvAdmin.StartAsync(options.Host, metricsPort, () => server.State == ServerState.Listening);
    Console.WriteLine($"kv admin on http://{options.Host}:{admin.Port} (/metrics /healthz /readyz)");
}

Console.WriteLine($"kv listening on {server.LocalEndPoint}");
await stop.Task;

// SIGTERM: stop accepting, let every client finish the read in hand, then close (TcpServer.StopAsync).
Console.WriteLine("kv draining");
var summary = await server.StopAsync(options.DrainTimeout);
Console.WriteLine($"kv stopped: {summary.Drained} connections drained, {summary.Aborted} aborted");
if (admin is not null)
{
    await admin.DisposeAsync();
}

return 0;
