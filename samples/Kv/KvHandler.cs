using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Sockeye.Samples.Kv.Commands;
using Sockeye.Samples.Kv.Resp;
using Sockeye.Samples.Kv.Store;

namespace Sockeye.Samples.Kv;

/// <summary>
/// One client's connection: read what arrived, execute every complete command in it under one
/// acquisition of the keyspace lock, write the replies, flush once (pipelining), repeat.
/// </summary>
/// <remarks>
/// <para>Replies go to the output pipe and leave with one flush per read. A client that has used
/// pub/sub gets its replies through its send queue instead (<see cref="KvSession.RepliesQueued"/>): the
/// switch flushes the pipe first, so replies stay in order.</para>
/// <para>A malformed or over-limit request gets Redis's error reply and the connection is closed
/// gracefully (the reply goes out before the FIN), as redis-server does. On a graceful shutdown the
/// handler finishes the read in hand and returns.</para>
/// </remarks>
internal sealed class KvHandler(KvServer server) : IConnectionHandler
{
    private enum Outcome
    {
        NeedMore,
        SwitchToQueue,
        Close,
    }

    public async Task HandleAsync(Connection connection)
    {
        var session = new KvSession(connection);
        var context = new CommandContext(server, session);
        var pending = false;
        server.CountClient(1);
        try
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await connection.Input.ReadAsync(connection.ShutdownRequested);
                }
                catch (OperationCanceledException) when (connection.ShutdownRequested.IsCancellationRequested)
                {
                    return;
                }

                var buffer = result.Buffer;
                var consumed = buffer.Start;
                Outcome outcome;
                while (true)
                {
                    context.Output = session.RepliesQueued ? session.QueuedReplies : connection.Output;
                    outcome = Execute(context, buffer.Slice(consumed), ref consumed, ref pending);
                    if (outcome != Outcome.SwitchToQueue)
                    {
                        break;
                    }

                    // The replies written so far leave before anything queued: flush, then switch.
                    await connection.Output.FlushAsync();
                    session.RepliesQueued = true;
                }

                connection.Input.AdvanceTo(consumed, buffer.End);
                if (session.RepliesQueued)
                {
                    if (!session.SendQueuedReplies())
                    {
                        return;
                    }
                }
                else
                {
                    await connection.Output.FlushAsync();
                }

                if (outcome == Outcome.Close)
                {
                    await DiscardUnreadAsync(connection);
                    return;
                }

                if (session.Closing || result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is ConnectionLostException or ConnectionClosedException or ConnectionTimeoutException)
        {
            // The peer went away or a deadline cut it: nothing to answer.
        }
        finally
        {
            Leave(session);
            server.CountClient(-1);
        }
    }

    /// <summary>After a protocol error: reads and drops what the client still sends, for a moment, so
    /// the close is a FIN after the error reply and not a reset that could destroy the reply unread
    /// (closing a socket with unread bytes makes the kernel send RST).</summary>
    private static async Task DiscardUnreadAsync(Connection connection)
    {
        using var linger = new CancellationTokenSource(TimeSpan.FromMilliseconds(250));
        long dropped = 0;
        try
        {
            while (dropped < 1024 * 1024)
            {
                var result = await connection.Input.ReadAsync(linger.Token);
                dropped += result.Buffer.Length;
                connection.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The client kept the connection open: close it now.
        }
    }

    /// <summary>Parses and runs every complete command in <paramref name="input"/> under the lock.</summary>
    private Outcome Execute(CommandContext context, ReadOnlySequence<byte> input, ref SequencePosition consumed, ref bool pending)
    {
        var reader = new SequenceReader<byte>(input);
        var executed = 0;
        var outcome = Outcome.NeedMore;
        lock (server.Lock)
        {
            context.Now = Keyspace.Now;
            while (!context.Session.Closing)
            {
                if (!pending)
                {
                    try
                    {
                        if (!RespParser.TryParse(ref reader, context.Args, server.Limits))
                        {
                            break;
                        }
                    }
                    catch (RespProtocolException ex)
                    {
                        RespWriter.Error(context.Output, ex.Reply);
                        outcome = Outcome.Close;
                        break;
                    }
                }

                var command = CommandTable.Find(context.Args[0]);
                if (command is not null && command.Flags.HasFlag(CommandFlags.PubSub) && !context.Session.RepliesQueued)
                {
                    // Run it after the handler flushed and switched to the send queue.
                    pending = true;
                    outcome = Outcome.SwitchToQueue;
                    break;
                }

                pending = false;
                Run(context, command);
                executed++;
            }
        }

        consumed = reader.Position;
        if (!pending)
        {
            context.Args.Shrink();
        }

        server.CountCommands(executed);
        return outcome;
    }

    /// <summary>Checks what Redis checks before running a command, in its order (unknown command,
    /// arity, subscriber mode), then runs it.</summary>
    private static void Run(CommandContext context, CommandInfo? command)
    {
        var args = context.Args;
        if (command is null)
        {
            context.Error(UnknownCommand(args));
            return;
        }

        context.Name = command.Name;
        if (!command.AcceptsCount(args.Count))
        {
            context.WrongArity();
            return;
        }

        if (context.Session.Subscriptions > 0 && !command.Flags.HasFlag(CommandFlags.Subscriber))
        {
            context.Error($"ERR Can't execute '{command.Name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
            return;
        }

        command.Handler(context);
    }

    /// <summary>Redis's text: the name, then the first arguments quoted, up to about 128 characters.</summary>
    private static string UnknownCommand(CommandArgs args)
    {
        var text = new StringBuilder();
        for (var j = 1; j < args.Count && text.Length < 128; j++)
        {
            var arg = args[j];
            text.Append('\'').Append(Encoding.Latin1.GetString(arg[..Math.Min(arg.Length, 128 - text.Length)])).Append("' ");
        }

        return $"ERR unknown command '{ServerCommands.Truncate(args[0])}', with args beginning with: {text}";
    }

    /// <summary>The client left: it leaves every channel and pattern it was subscribed to.</summary>
    private void Leave(KvSession session)
    {
        if (session.Subscriptions == 0)
        {
            return;
        }

        lock (server.Lock)
        {
            foreach (var channel in session.Channels)
            {
                server.Hub.Unsubscribe(channel, session.Connection);
            }

            foreach (var pattern in session.Patterns)
            {
                server.Hub.PUnsubscribe(pattern, session.Connection);
            }
        }
    }
}
