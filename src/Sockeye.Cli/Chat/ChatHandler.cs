using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Sockeye.Fanout;
using Sockeye.Framing;
using Sockeye.Framing.Internal;

namespace Sockeye.Cli.Chat;

/// <summary>
/// <c>sockeye serve chat</c>'s connections: the line protocol of docs/CHAT.md (<c>NICK JOIN PART MSG
/// QUIT</c>). A <c>MSG</c> is encoded once and broadcast to the room's other members through their send
/// queues, and published once to the room's members on other instances
/// (<see cref="GroupBroadcaster.Broadcast(string, OutgoingMessage, Connection?)"/>); replies go through
/// the same queue, so a client sees its replies and the room's lines in the order the server made them.
/// </summary>
/// <remarks>
/// An idle member is the common case (a room has many readers and few writers), so what a member holds
/// while it waits is kept small: the handler reads <see cref="Connection.Input"/> itself, as the echo
/// handler does, instead of through the framing helpers (whose reader and two suspended async methods
/// cost about 460 bytes per waiting connection), and the session is two fields of this method's state
/// with room names shared with their groups. BENCHMARKS.md, "Idle subscriber vs idle echo connection".
/// </remarks>
internal sealed class ChatHandler(ChatRooms rooms, int maxLine) : IConnectionHandler
{
    // One codec for every connection: each keeps only where its search for a line's end stopped
    // (DelimiterSearch, 8 bytes of the handler's state) instead of a codec of 40 bytes.
    private readonly LineCodec _codec = new(maxLine);

    private static readonly byte[] Quit = "OK QUIT\n"u8.ToArray();
    private static readonly byte[] TooLong = "ERR line too long\n"u8.ToArray();

    /// <summary>The read buffer limit the chat server needs: a partial line waits in the reader, so the
    /// reader must hold the longest line and its <c>\r\n</c> for the line limit to answer first.</summary>
    internal static long MinReadBufferSize(int maxLine) => (long)maxLine + 2;

    public async Task HandleAsync(Connection connection)
    {
        var search = default(DelimiterSearch);
        var session = default(Session);
        try
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await connection.Input.ReadAsync(connection.ShutdownRequested).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (connection.ShutdownRequested.IsCancellationRequested)
                {
                    // The server is draining (SIGTERM): the commands that already arrived are answered,
                    // then what is queued for this client goes out, then the FIN, instead of holding the
                    // drain until its deadline aborts the connection.
                    if (connection.Input.TryRead(out var rest))
                    {
                        ExecuteLines(connection, ref search, ref session, rest);
                    }

                    return;
                }

                if (!ExecuteLines(connection, ref search, ref session, result))
                {
                    return;
                }
            }
        }
        finally
        {
            session.Rooms.PartAll(rooms, connection);
        }
    }

    /// <summary>Runs every whole line of <paramref name="result"/> and consumes them; false when the
    /// connection ends (QUIT, a line over the limit, the peer's FIN).</summary>
    /// <exception cref="InvalidDataException">The peer closed the connection in the middle of a line.</exception>
    private bool ExecuteLines(Connection connection, ref DelimiterSearch search, ref Session session, in ReadResult result)
    {
        var buffer = result.Buffer;
        var go = true;
        try
        {
            while (go && _codec.TryDecode(buffer, ref search, out var line, out var consumed))
            {
                connection.OnFrameDecoded(); // counted as the framing helpers count them (FramesDecoded)
                go = Execute(connection, ref session, line.IsSingleSegment ? line.FirstSpan : line.ToArray());
                buffer = buffer.Slice(consumed);
            }
        }
        catch (FrameTooLargeException)
        {
            connection.TrySend(TooLong);
            go = false; // the server closes gracefully: the ERR line goes out before the FIN
        }

        if (go && result.IsCompleted && !buffer.IsEmpty)
        {
            throw new InvalidDataException($"the peer closed the connection in the middle of a frame ({buffer.Length} bytes of it had arrived)");
        }

        connection.Input.AdvanceTo(buffer.Start, buffer.End);
        return go && !result.IsCompleted;
    }

    /// <summary>Runs one command line; false when the client quit.</summary>
    /// <remarks>Parsed from the line's bytes: a member's <c>NICK</c> and <c>JOIN</c> make no string but
    /// the nick (the line, its pieces and the reply made five each, garbage that a burst of joins leaves
    /// between the members' objects). The first space splits as it would in the decoded text: UTF-8 has
    /// no 0x20 byte inside a character. Names are ASCII, so they are checked on the bytes.</remarks>
    private bool Execute(Connection connection, ref Session session, ReadOnlySpan<byte> line)
    {
        var space = line.IndexOf((byte)' ');
        var command = space < 0 ? line : line[..space];
        var argument = space < 0 ? [] : line[(space + 1)..];
        switch (VerbOf(command))
        {
            case Verb.Nick when IsName(argument):
                session.Nick = Encoding.ASCII.GetString(argument);
                Reply(connection, "OK NICK ", session.Nick);
                return true;
            case Verb.Join when IsName(argument):
            {
                // The room's own name is kept, not a copy of it: one string per room.
                Span<char> name = stackalloc char[argument.Length];
                Encoding.ASCII.GetChars(argument, name);
                var room = rooms.Join(name, connection);
                session.Rooms.Add(room);
                Reply(connection, "OK JOIN ", room);
                return true;
            }

            case Verb.Part when IsName(argument):
            {
                var room = Encoding.ASCII.GetString(argument);
                if (!session.Rooms.Remove(room))
                {
                    Reply(connection, "ERR not in room ", room);
                    return true;
                }

                rooms.Part(room, connection);
                Reply(connection, "OK PART ", room);
                return true;
            }

            case Verb.Msg:
                Message(connection, in session, Encoding.UTF8.GetString(argument));
                return true;
            case Verb.Quit when argument.IsEmpty:
                connection.TrySend(Quit);
                return false;
            case Verb.Whoami when argument.IsEmpty:
                // Behind a load balancer the first address is the client the PROXY header named and
                // the second is this instance's own socket address, so a client learns both who the
                // server thinks it is and which instance it reached (deploy/cluster checks both).
                Reply(connection, "OK WHOAMI ", $"{connection.RemoteEndPoint} {connection.LocalEndPoint}");
                return true;
            case Verb.Nick:
                Reply(connection, "ERR bad argument nick", "");
                return true;
            case Verb.Join or Verb.Part:
                Reply(connection, "ERR bad argument room", "");
                return true;
            case Verb.Quit:
                Reply(connection, "ERR bad argument quit", "");
                return true;
            case Verb.Whoami:
                Reply(connection, "ERR bad argument whoami", "");
                return true;
            default:
                Reply(connection, "ERR unknown command ", Encoding.UTF8.GetString(command));
                return true;
        }
    }

    private enum Verb
    {
        Unknown,
        Nick,
        Join,
        Part,
        Msg,
        Quit,
        Whoami,
    }

    /// <summary>The command a line starts with (commands are case-sensitive upper case).</summary>
    private static Verb VerbOf(ReadOnlySpan<byte> command) =>
        command.SequenceEqual("NICK"u8) ? Verb.Nick
        : command.SequenceEqual("JOIN"u8) ? Verb.Join
        : command.SequenceEqual("PART"u8) ? Verb.Part
        : command.SequenceEqual("MSG"u8) ? Verb.Msg
        : command.SequenceEqual("QUIT"u8) ? Verb.Quit
        : command.SequenceEqual("WHOAMI"u8) ? Verb.Whoami
        : Verb.Unknown;

    private void Message(Connection connection, in Session session, string argument)
    {
        var space = argument.IndexOf(' ', StringComparison.Ordinal);
        var room = space < 0 ? argument : argument[..space];
        var text = space < 0 ? "" : argument[(space + 1)..];
        if (!IsName(room))
        {
            Reply(connection, "ERR bad argument room", "");
            return;
        }

        if (!session.Rooms.Contains(room) || rooms.Find(room) is null)
        {
            Reply(connection, "ERR not in room ", room);
            return;
        }

        // "<room> <nick>: <text>\n", encoded once for every member.
        var nick = session.NickOf(connection);
        var length = Encoding.UTF8.GetByteCount(room) + 1 + Encoding.UTF8.GetByteCount(nick) + 2 + Encoding.UTF8.GetByteCount(text) + 1;
        using var message = OutgoingMessage.Create(length, (room, nick, text), static (span, parts) =>
        {
            var written = Encoding.UTF8.GetBytes(parts.room, span);
            span[written++] = (byte)' ';
            written += Encoding.UTF8.GetBytes(parts.nick, span[written..]);
            span[written++] = (byte)':';
            span[written++] = (byte)' ';
            written += Encoding.UTF8.GetBytes(parts.text, span[written..]);
            span[written] = (byte)'\n';
        });
        rooms.Broadcaster.Broadcast(room, message, except: connection);
    }

    /// <summary>Queues the line <c>head + tail + "\n"</c>, encoded straight into the message (the head is ASCII).</summary>
    private static void Reply(Connection connection, string head, string tail)
    {
        using var message = OutgoingMessage.Create(head.Length + Encoding.UTF8.GetByteCount(tail) + 1, (head, tail), static (span, parts) =>
        {
            var written = Encoding.ASCII.GetBytes(parts.head, span);
            written += Encoding.UTF8.GetBytes(parts.tail, span[written..]);
            span[written] = (byte)'\n';
        });
        connection.TrySend(message);
    }

    /// <summary>A nick or room name: 1–32 characters of letters, digits, <c>_ . -</c>.</summary>
    internal static bool IsName(string value) =>
        value.Length is >= 1 and <= 32 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-');

    /// <summary><see cref="IsName(string)"/> on a name's UTF-8 bytes (the same answer: a valid name is
    /// ASCII, and any byte of a longer character is refused).</summary>
    internal static bool IsName(ReadOnlySpan<byte> value)
    {
        if (value.Length is < 1 or > 32)
        {
            return false;
        }

        foreach (var b in value)
        {
            if (!(char.IsAsciiLetterOrDigit((char)b) || b is (byte)'_' or (byte)'.' or (byte)'-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A client's state, held in <see cref="HandleAsync"/>'s own frame (no object of its own).</summary>
    private struct Session
    {
        /// <summary>The nick from <c>NICK</c>; null until then (see <see cref="NickOf"/>).</summary>
        public string? Nick;

        /// <summary>The rooms joined.</summary>
        public RoomList Rooms;

        /// <summary>The nick, or <c>guest&lt;N&gt;</c> before any <c>NICK</c> (made when first needed:
        /// most members never speak before they name themselves).</summary>
        public readonly string NickOf(Connection connection) => Nick ?? $"guest{connection.Id}";
    }

    /// <summary>
    /// The rooms one client is in, in the order joined: the first inline and the rest in a list made
    /// only for a second room, so a member of one room holds no collection (a <see cref="HashSet{T}"/>
    /// per client cost 224 bytes). Linear lookups: a client is in few rooms.
    /// </summary>
    private struct RoomList
    {
        private string? _first;
        private List<string>? _more;

        public readonly bool Contains(string room) =>
            string.Equals(_first, room, StringComparison.Ordinal) || (_more?.Contains(room, StringComparer.Ordinal) ?? false);

        /// <summary>Adds <paramref name="room"/> unless it is already there (joining twice is allowed).</summary>
        public void Add(string room)
        {
            if (Contains(room))
            {
                return;
            }

            if (_first is null)
            {
                _first = room;
            }
            else
            {
                (_more ??= []).Add(room);
            }
        }

        /// <summary>Removes <paramref name="room"/>; false when the client was not in it.</summary>
        public bool Remove(string room)
        {
            if (string.Equals(_first, room, StringComparison.Ordinal))
            {
                _first = null;
                if (_more is { Count: > 0 })
                {
                    _first = _more[0];
                    _more.RemoveAt(0);
                }

                return true;
            }

            for (var i = 0; i < (_more?.Count ?? 0); i++)
            {
                if (string.Equals(_more![i], room, StringComparison.Ordinal))
                {
                    _more.RemoveAt(i);
                    return true;
                }
            }

            return false;
        }

        /// <summary>Leaves every room (the connection is ending).</summary>
        public readonly void PartAll(ChatRooms rooms, Connection connection)
        {
            if (_first is not null)
            {
                rooms.Part(_first, connection);
            }

            foreach (var room in _more ?? Enumerable.Empty<string>())
            {
                rooms.Part(room, connection);
            }
        }
    }
}
