// Offloading a CPU-heavy step to a bounded WorkerPool. Each line a client sends is a password; the
// reply is its PBKDF2-SHA256 key in hex, which costs tens of milliseconds of CPU. Hashing on the
// connection's own task would let a burst of clients occupy every thread-pool thread (and, with
// inline socket completions, stall the socket engine); the pool caps hashing at MaxConcurrency and
// makes connections wait for a queue slot instead (back-pressure: their peers are slowed by TCP).
//
//   dotnet run --project samples/HashOffload      then      printf 'hunter2\n' | nc 127.0.0.1 7100
using System.Buffers;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sockeye;
using Sockeye.Framing;
using Sockeye.Hosting;
using Sockeye.Pools;

var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddSingleton(new WorkerPool(new WorkerPoolOptions
{
    MaxConcurrency = Math.Max(1, Environment.ProcessorCount - 1), // leave a core for the I/O
    QueueCapacity = 256,
}));

// Registered before AddSockeye, so the host stops it after the listeners have drained.
builder.Services.AddHostedService<WorkerPoolStopper>();
builder.Services.AddSockeye(sockeye => sockeye.AddListener<HashHandler>("hash"));
await builder.Build().RunAsync();

/// <summary>Answers each line with the PBKDF2 key of its bytes, computed on the worker pool.</summary>
internal sealed class HashHandler(WorkerPool pool) : IConnectionHandler
{
    private static readonly byte[] Salt = "sockeye-sample-salt"u8.ToArray();

    public async Task HandleAsync(Connection connection)
    {
        var lines = new LineCodec(maxLineLength: 1024);
        await foreach (var line in connection.ReadFramesAsync(lines))
        {
            // The frame is only valid until the next read: copy it before handing it to another thread.
            var password = line.ToArray();
            var key = await pool.RunAsync(_ => Rfc2898DeriveBytes.Pbkdf2(password, Salt, 100_000, HashAlgorithmName.SHA256, 32));
            await connection.WriteFrameAsync(lines, System.Text.Encoding.ASCII.GetBytes(Convert.ToHexStringLower(key)));
        }
    }
}

/// <summary>Finishes the queued hashes when the host stops, within the host's shutdown timeout.</summary>
internal sealed class WorkerPoolStopper(WorkerPool pool) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => pool.StopAsync(TimeSpan.FromSeconds(10), cancellationToken);
}
