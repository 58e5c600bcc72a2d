using System.Buffers;
using System.Text;
using Sockeye.Fanout;
using Sockeye.Framing;

namespace Sockeye.Cli.Chat;

/// <summary>
/// <c>sockeye serve chat</c>'s connections: the line protocol of docs/CHAT.md (<c>NICK JOIN PART MSG
/// QUIT</c>). A <c>MSG</c> is encoded once and broadcast to the room's other members through their send
/// queues, and published once to the room's members on other instances
/// (<see cref="GroupBroadcaster.Broadcast(string, OutgoingMessage, Connection?)"/>); replies go through
/// the same queue, so a client sees its replies and the room's lines in the order the server made them.
/// </summary>
internal sealed class ChatHandler(ChatRooms rooms, int maxLine) : IConnectionHandler
{
    private static readonly byte[] Quit = "OK QUIT\n"u8.ToArray();
    private static readonly byte[] TooLong = "ERR line too long\n"u8.ToArray();

    public async Task HandleAsync(Connection connection)
    {
        var codec = new LineCodec(maxLine);
        var session = new Session(connection, $"guest{connection.Id}");
        try
        {
            while (true)
            {
                ReadOnlySequence<byte>? frame;
                try
                {
                    frame = await connection.ReadFrameAsync(codec, connection.ShutdownRequested).ConfigureAwait(false);
                }
                catch (FrameTooLargeException)
                {
                    connection.TrySend(TooLong);
                    return; // the server closes gracefully: the ERR line goes out before the FIN
                }
                catch (OperationCanceledException) when (connection.ShutdownRequested.IsCancellationRequested)
                {
                    // The server is draining (SIGTERM): what is queued for this client goes out, then
                    // the FIN, instead of holding the drain until its deadline aborts the connection.
                    return;
                }

                if (frame is not { } line || !Execute(session, Encoding.UTF8.GetString(line)))
                {
                    return;
                }
            }
        }
        finally
        {
            foreach (var room in session.Rooms)
            {
                rooms.Part(room, connection);
            }
        }
    }

    /// <summary>Runs one command line; false when the client quit.</summary>
    private bool Execute(Session session, string line)
    {
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        var command = space < 0 ? line : line[..space];
        var argument = space < 0 ? "" : line[(space + 1)..];
        switch (command)
        {
            case "NICK" when IsName(argument):
                session.Nick = argument;
                Reply(session, $"OK NICK {argument}");
                return true;
            case "JOIN" when IsName(argument):
                rooms.Join(argument, session.Connection);
                session.Rooms.Add(argument);
                Reply(session, $"OK JOIN {argument}");
                return true;
            case "PART" when IsName(argument):
                if (!session.Rooms.Remove(argument))
                {
                    Reply(session, $"ERR not in room {argument}");
                    return true;
                }

                rooms.Part(argument, session.Connection);
                Reply(session, $"OK PART {argument}");
                return true;
            case "MSG":
                Message(session, argument);
                return true;
            case "QUIT" when argument.Length == 0:
                session.Connection.TrySend(Quit);
                return false;
            case "WHOAMI" when argument.Length == 0:
                // Behind a load balancer the first address is the client the PROXY header named and
                // the second is this instance's own socket address, so a client learns both who the
                // server thinks it is and which instance it reached (deploy/cluster checks both).
                Reply(session, $"OK WHOAMI {session.Connection.RemoteEndPoint} {session.Connection.LocalEndPoint}");
                return true;
            case "NICK":
                Reply(session, "ERR bad argument nick");
                return true;
            case "JOIN" or "PART":
                Reply(session, "ERR bad argument room");
                return true;
            case "QUIT":
                Reply(session, "ERR bad argument quit");
                return true;
            case "WHOAMI":
                Reply(session, "ERR bad argument whoami");
                return true;
            default:
                Reply(session, $"ERR unknown command {command}");
                return true;
        }
    }

    private void Message(Session session, string argument)
    {
        var space = argument.IndexOf(' ', StringComparison.Ordinal);
        var room = space < 0 ? argument : argument[..space];
        var text = space < 0 ? "" : argument[(space + 1)..];
        if (!IsName(room))
        {
            Reply(session, "ERR bad argument room");
            return;
        }

        if (!session.Rooms.Contains(room) || rooms.Find(room) is null)
        {
            Reply(session, $"ERR not in room {room}");
            return;
        }

        // "<room> <nick>: <text>\n", encoded once for every member.
        var length = Encoding.UTF8.GetByteCount(room) + 1 + Encoding.UTF8.GetByteCount(session.Nick) + 2 + Encoding.UTF8.GetByteCount(text) + 1;
        using var message = OutgoingMessage.Create(length, (room, session.Nick, text), static (span, parts) =>
        {
            var written = Encoding.UTF8.GetBytes(parts.room, span);
            span[written++] = (byte)' ';
            written += Encoding.UTF8.GetBytes(parts.Nick, span[written..]);
            span[written++] = (byte)':';
            span[written++] = (byte)' ';
            written += Encoding.UTF8.GetBytes(parts.text, span[written..]);
            span[written] = (byte)'\n';
        });
        rooms.Broadcaster.Broadcast(room, message, except: session.Connection);
    }

    private static void Reply(Session session, string line) => session.Connection.TrySend(Encoding.UTF8.GetBytes(line + "\n"));

    /// <summary>A nick or room name: 1–32 characters of letters, digits, <c>_ . -</c>.</summary>
    internal static bool IsName(string value) =>
        value.Length is >= 1 and <= 32 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-');

    private sealed class Session(Connection connection, string nick)
    {
        public Connection Connection { get; } = connection;

        public string Nick { get; set; } = nick;

        public HashSet<string> Rooms { get; } = new(StringComparer.Ordinal);
    }
}
