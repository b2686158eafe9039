import { Schema, model, type HydratedDocument, type InferSchemaType } from 'mongoose';
import { Role } from './status.js';

const userSchema = new Schema(
  {
    // Stored lower-cased so uniqueness is case-insensitive (FerretDB has no collation support).
    email: { type: String, required: true, unique: true, lowercase: true, trim: true },
    username: { type: String, required: true, trim: true },
    usernameKey: { type: String, required: true, unique: true },
    passwordHash: { type: String, required: true, select: false },
    firstName: { type: String, trim: true },
    lastName: { type: String, trim: true },
    role: { type: String, enum: Object.values(Role), required: true, default: Role.CUSTOMER },
  },
  { timestamps: true },
);

userSchema.pre('validate', function () {
  if (this.username) this.usernameKey = this.username.toLowerCase();
});

export type UserRecord = InferSchemaType<typeof userSchema>;
export type UserDocument = HydratedDocument<UserRecord>;

export const User = model('User', userSchema);

