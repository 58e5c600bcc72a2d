using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Bench;

/// <summary>
/// Just enough of docs/CHAT.md (NICK, JOIN, MSG) over <see cref="TcpListener"/> to check the fanout
/// workload's counting without Go or Sockeye's chat server: every MSG goes to every other member of
/// the room, in order. <see cref="DropNick"/> names a member whose connection it closes after the
/// first delivery it owes it, as a slow-consumer policy would.
/// </summary>
internal sealed class TinyChatServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Dictionary<string, List<Member>> _rooms = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;

    public TinyChatServer(string? dropNick = null)
    {
        DropNick = dropNick;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>The member whose connection is closed instead of receiving its first delivery.</summary>
    public string? DropNick { get; }

    /// <summary>Members it disconnected.</summary>
    public int Dropped { get; private set; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                lock (_connections)
                {
                    _connections.Add(Task.Run(() => ServeAsync(client)));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        using var member = new Member(client.GetStream());
        using var reader = new StreamReader(member.Stream, Encoding.UTF8);
        try
        {
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                var (command, args) = line.IndexOf(' ', StringComparison.Ordinal) is var space and >= 0 ? (line[..space], line[(space + 1)..]) : (line, "");
                switch (command)
                {
                    case "NICK":
                        member.Nick = args;
                        await member.SendAsync($"OK NICK {args}");
                        break;
                    case "JOIN":
                        lock (_rooms)
                        {
                            (_rooms.TryGetValue(args, out var members) ? members : _rooms[args] = []).Add(member);
                        }

                        await member.SendAsync($"OK JOIN {args}");
                        break;
                    case "MSG":
                        var room = args[..args.IndexOf(' ', StringComparison.Ordinal)];
                        Member[] others;
                        lock (_rooms)
                        {
                            others = _rooms[room].Where(m => m != member).ToArray();
                        }

                        foreach (var other in others)
                        {
                            if (other.Nick == DropNick)
                            {
                                Drop(other);
                                continue;
                            }

                            await other.SendAsync($"{room} {member.Nick}: {args[(room.Length + 1)..]}");
                        }

                        break;
                    default:
                        await member.SendAsync($"ERR unknown command {command}");
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    private void Drop(Member member)
    {
        lock (_rooms)
        {
            var removed = false;
            foreach (var members in _rooms.Values)
            {
                removed |= members.Remove(member);
            }

            if (!removed)
            {
                return; // Another publisher's message dropped it first.
            }

            Dropped++;
        }

        member.Stream.Socket.Close();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting.WaitAsync(Loopback.Patience);
        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }

        await Task.WhenAll(connections).WaitAsync(Loopback.Patience);
        _stop.Dispose();
    }

    /// <summary>One connection; sends to it are serialised, since any member's MSG writes to it.</summary>
    private sealed class Member(NetworkStream stream) : IDisposable
    {
        private readonly SemaphoreSlim _writing = new(1, 1);

        public NetworkStream Stream { get; } = stream;

        public string Nick { get; set; } = "";

        public async Task SendAsync(string line)
        {
            try
            {
                await _writing.WaitAsync();
                try
                {
                    await Stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"));
                }
                finally
                {
                    _writing.Release();
                }
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // A member that was dropped or left: its loss is what the test counts.
            }
        }

        public void Dispose() => _writing.Dispose();
    }
}
