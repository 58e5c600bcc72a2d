using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;

namespace Sockeye.Handlers;

/// <summary>
/// Sends every byte it receives back to the peer, in order, for any message size and any number of
/// pipelined requests (RFC 862's echo). The reference workload for the benchmarks and the CLI's
/// <c>serve echo</c>.
/// </summary>
/// <remarks>
/// On a graceful shutdown it echoes what has already been received, flushes, and returns, so no
/// request that reached the server goes unanswered; a connection accepted less than a second before
/// that has sent nothing yet is given the rest of that second for its first request. Stateless and
/// safe for concurrent use.
/// </remarks>
public sealed class EchoHandler : IConnectionHandler
{
    /// <summary>The one instance every server can share.</summary>
    public static EchoHandler Instance { get; } = new();

    /// <inheritdoc />
    public async Task HandleAsync(Connection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);

        // Only the connection and one timestamp live across the awaits, which keeps the suspended
        // handler of an idle connection small. Reading with ShutdownRequested costs nothing while
        // idle: the server wakes such reads itself when it stops.
        var silentSince = Stopwatch.GetTimestamp(); // 0 once the peer has sent something
        while (true)
        {
            bool done;
            try
            {
                var result = await connection.Input.ReadAsync(connection.ShutdownRequested).ConfigureAwait(false);
                if (!result.Buffer.IsEmpty)
                {
                    silentSince = 0;
                }

                done = CopyToOutput(connection, result);
            }
            catch (OperationCanceledException) when (connection.ShutdownRequested.IsCancellationRequested)
            {
                // Shutdown: echo what already arrived, then finish.
                done = true;
                if (connection.Input.TryRead(out var rest))
                {
                    CopyToOutput(connection, rest);
                }
                else if (silentSince != 0 && Stopwatch.GetElapsedTime(silentSince) < NewConnectionGrace)
                {
                    // Accepted just before the drain began and nothing sent yet: its first request is
                    // most likely on its way (a rolling restart lost 2 of 1,130 such connections,
                    // closed unanswered). Go's Server.Shutdown likewise leaves new connections a
                    // moment before it counts them idle. An older silent connection is idle: it ends now.
                    await EchoFirstRequestAsync(connection, NewConnectionGrace - Stopwatch.GetElapsedTime(silentSince)).ConfigureAwait(false);
                }
            }

            var flush = await connection.Output.FlushAsync().ConfigureAwait(false);
            if (done || flush.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>How long a connection that has sent nothing yet is still waited for when the server
    /// starts to drain (counted from its accept).</summary>
    internal static readonly TimeSpan NewConnectionGrace = TimeSpan.FromSeconds(1);

    private static async Task EchoFirstRequestAsync(Connection connection, TimeSpan wait)
    {
        using var grace = new CancellationTokenSource(wait);
        try
        {
            var first = await connection.Input.ReadAsync(grace.Token).ConfigureAwait(false);
            CopyToOutput(connection, first);
        }
        catch (OperationCanceledException) when (grace.IsCancellationRequested)
        {
            // It stayed silent: an idle connection after all.
        }
    }

    /// <summary>Copies a read's bytes to the output; true when the peer has finished sending.</summary>
    private static bool CopyToOutput(Connection connection, in ReadResult result)
    {
        var output = connection.Output;
        foreach (var segment in result.Buffer)
        {
            output.Write(segment.Span);
        }

        connection.Input.AdvanceTo(result.Buffer.End);
        return result.IsCompleted;
    }
}
