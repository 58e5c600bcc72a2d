namespace Sockeye.Samples.Kv.Resp;

/// <summary>Splits an inline request line into arguments as Redis's <c>sdssplitargs</c> does: words
/// separated by white space; "double quotes" with <c>\n \r \t \b \a \\ \" \xHH</c> escapes; 'single
/// quotes' with <c>\'</c>; a closing quote must be followed by white space or the end.</summary>
internal static class InlineSplitter
{
    /// <summary>Adds the arguments of <paramref name="line"/> to <paramref name="args"/>; false when a
    /// quote is left open or a closing quote is followed by more text.</summary>
    public static bool TrySplit(ReadOnlySpan<byte> line, CommandArgs args)
    {
        // A NUL ends the line, as it ends the C string Redis splits.
        var nul = line.IndexOf((byte)0);
        if (nul >= 0)
        {
            line = line[..nul];
        }

        Span<byte> small = stackalloc byte[256];
        var p = 0;
        while (true)
        {
            while (p < line.Length && IsSpace(line[p]))
            {
                p++;
            }

            if (p >= line.Length)
            {
                return true;
            }

            var word = line.Length - p <= small.Length ? small : new byte[line.Length - p];
            var length = 0;
            bool inDouble = false, inSingle = false, done = false;
            while (!done)
            {
                var c = p < line.Length ? line[p] : (byte)0;
                var next = p + 1 < line.Length ? line[p + 1] : (byte)0;
                if (inDouble)
                {
                    if (c == '\\' && next == 'x' && p + 3 < line.Length && IsHex(line[p + 2]) && IsHex(line[p + 3]))
                    {
                        word[length++] = (byte)((Hex(line[p + 2]) << 4) | Hex(line[p + 3]));
                        p += 3;
                    }
                    else if (c == '\\' && next != 0)
                    {
                        p++;
                        word[length++] = next switch
                        {
                            (byte)'n' => (byte)'\n',
                            (byte)'r' => (byte)'\r',
                            (byte)'t' => (byte)'\t',
                            (byte)'b' => (byte)'\b',
                            (byte)'a' => (byte)'\a',
                            _ => next,
                        };
                    }
                    else if (c == '"')
                    {
                        if (next != 0 && !IsSpace(next))
                        {
                            return false;
                        }

                        done = true;
                    }
                    else if (c == 0)
                    {
                        return false;
                    }
                    else
                    {
                        word[length++] = c;
                    }
                }
                else if (inSingle)
                {
                    if (c == '\\' && next == '\'')
                    {
                        p++;
                        word[length++] = (byte)'\'';
                    }
                    else if (c == '\'')
                    {
                        if (next != 0 && !IsSpace(next))
                        {
                            return false;
                        }

                        done = true;
                    }
                    else if (c == 0)
                    {
                        return false;
                    }
                    else
                    {
                        word[length++] = c;
                    }
                }
                else
                {
                    switch (c)
                    {
                        case (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t' or 0:
                            done = true;
                            break;
                        case (byte)'"':
                            inDouble = true;
                            break;
                        case (byte)'\'':
                            inSingle = true;
                            break;
                        default:
                            word[length++] = c;
                            break;
                    }
                }

                if (p < line.Length)
                {
                    p++;
                }
            }

            args.Add(word[..length]);
        }
    }

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\v' or (byte)'\f' or (byte)'\r';

    private static bool IsHex(byte b) => char.IsAsciiHexDigit((char)b);

    private static int Hex(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;
}
